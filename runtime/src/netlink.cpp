#include "netlink.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace polc::runtime::nl {

Request::Request(uint16_t type, uint16_t flags) {
  nlmsghdr h{};
  h.nlmsg_len = NLMSG_HDRLEN;
  h.nlmsg_type = type;
  h.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
  buf_.resize(NLMSG_HDRLEN);
  std::memcpy(buf_.data(), &h, sizeof h);
}

void Request::append(const void* data, size_t len) {
  size_t off = buf_.size();
  buf_.resize(off + NLMSG_ALIGN(len), 0);
  if (data && len) std::memcpy(buf_.data() + off, data, len);
  header()->nlmsg_len = static_cast<uint32_t>(buf_.size());
}

void Request::put(uint16_t type, const void* data, size_t len) {
  rtattr a{};
  a.rta_type = type;
  a.rta_len = static_cast<uint16_t>(RTA_LENGTH(len));
  size_t off = buf_.size();
  buf_.resize(off + RTA_ALIGN(RTA_LENGTH(len)), 0);
  std::memcpy(buf_.data() + off, &a, sizeof a);
  if (len) std::memcpy(buf_.data() + off + RTA_LENGTH(0), data, len);
  header()->nlmsg_len = static_cast<uint32_t>(buf_.size());
}

void Request::put_ipv4(uint16_t type, uint32_t host_order) {
  uint32_t be = htonl(host_order);
  put(type, &be, sizeof be);
}

size_t Request::begin_nest(uint16_t type) {
  size_t off = buf_.size();
  put(type, nullptr, 0);
  return off;
}

void Request::end_nest(size_t token) {
  auto* a = reinterpret_cast<rtattr*>(buf_.data() + token);
  a->rta_len = static_cast<uint16_t>(buf_.size() - token);
}

void for_each_attr(const void* attrs, size_t len, const std::function<void(const rtattr*)>& fn) {
  auto* a = static_cast<const rtattr*>(attrs);
  int rem = static_cast<int>(len);
  for (; RTA_OK(a, rem); a = RTA_NEXT(a, rem)) fn(a);
}

std::string attr_str(const rtattr* a) {
  const char* p = static_cast<const char*>(RTA_DATA(a));
  size_t n = RTA_PAYLOAD(a);
  while (n > 0 && p[n - 1] == '\0') --n;
  return std::string(p, n);
}

uint32_t attr_u32(const rtattr* a) {
  uint32_t v = 0;
  if (RTA_PAYLOAD(a) >= sizeof v) std::memcpy(&v, RTA_DATA(a), sizeof v);
  return v;
}

Result<Socket> Socket::open() {
  int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return sys_error("opening a netlink socket", errno);
  Socket s;
  s.fd_.reset(fd);
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) return sys_error("binding a netlink socket", errno);
  int one = 1;
  // Extended acks carry the kernel's own error message ("File exists" alone rarely says why).
  (void)::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  int bufsz = 1 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsz, sizeof bufsz);
  return s;
}

Result<Socket> Socket::open_in_fd(int ns_fd) {
  auto guard = NetnsGuard::enter(ns_fd);
  if (!guard) return guard.error();
  return open();
}

Result<Socket> Socket::open_in(const Netns& ns) {
  auto s = open_in_fd(ns.fd());
  if (!s) return Error{s.error().message + " in netns " + ns.name()};
  return s;
}

Status Socket::send(Request& req, const std::string& what) {
  req.header()->nlmsg_seq = ++seq_;
  auto bytes = req.bytes();
  sockaddr_nl sa{};
  sa.nl_family = AF_NETLINK;
  ssize_t n = ::sendto(fd_.get(), bytes.data(), bytes.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  if (n < 0) return sys_error(what, errno);
  if (static_cast<size_t>(n) != bytes.size()) return Error{what + ": short netlink write"};
  return {};
}

namespace {

/// The kernel's extended-ack message, if any, appended to the errno text.
std::string ext_ack_message(const nlmsghdr* h) {
  if (!(h->nlmsg_flags & NLM_F_ACK_TLVS)) return {};
  auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
  size_t off = sizeof(nlmsgerr);
  if (!(h->nlmsg_flags & NLM_F_CAPPED)) off += err->msg.nlmsg_len - NLMSG_HDRLEN;
  if (NLMSG_HDRLEN + off > h->nlmsg_len) return {};
  std::string msg;
  for_each_attr(reinterpret_cast<const uint8_t*>(err) + off, h->nlmsg_len - NLMSG_HDRLEN - off, [&](const rtattr* a) {
    if (a->rta_type == NLMSGERR_ATTR_MSG) msg = attr_str(a);
  });
  return msg;
}

}  // namespace

Result<std::vector<std::vector<uint8_t>>> Socket::dump(Request& req, const std::string& what) {
  if (auto st = send(req, what); !st) return st.error();
  std::vector<std::vector<uint8_t>> out;
  std::vector<uint8_t> buf(1 << 16);
  uint32_t seq = req.header()->nlmsg_seq;
  bool multi = req.header()->nlmsg_flags & NLM_F_DUMP;
  for (;;) {
    ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(what, errno);
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) return out;
      if (h->nlmsg_type == NLMSG_ERROR) {
        auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (err->error == 0) return out;
        auto e = sys_error(what, -err->error);
        if (auto m = ext_ack_message(h); !m.empty()) e.message += " (" + m + ")";
        return e;
      }
      auto* p = reinterpret_cast<const uint8_t*>(h);
      out.emplace_back(p, p + h->nlmsg_len);
      if (!multi) return out;
    }
  }
}

Status Socket::exec(Request& req, const std::string& what) {
  req.header()->nlmsg_flags |= NLM_F_ACK;
  auto r = dump(req, what);
  if (!r) return r.error();
  return {};
}

}  // namespace polc::runtime::nl
