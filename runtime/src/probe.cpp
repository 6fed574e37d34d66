#include "polc/runtime/probe.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <thread>

namespace polc::runtime {

const char* probe_outcome_name(ProbeOutcome o) {
  switch (o) {
    case ProbeOutcome::Ok: return "ok";
    case ProbeOutcome::Refused: return "refused";
    case ProbeOutcome::Timeout: return "timeout";
    case ProbeOutcome::Unreachable: return "unreachable";
    case ProbeOutcome::Error: return "error";
  }
  return "?";
}

namespace {

using Clock = std::chrono::steady_clock;

sockaddr_in to_sockaddr(Endpoint4 ep) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(ep.ip);
  sa.sin_port = htons(ep.port);
  return sa;
}

Result<Fd> make_socket(const ProbeOptions& opt, int type) {
  Result<Fd> fd = opt.netns ? socket_in(*opt.netns, AF_INET, type | SOCK_NONBLOCK) : [&]() -> Result<Fd> {
    int f = ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f < 0) return sys_error("socket", errno);
    return Fd(f);
  }();
  if (!fd) return fd;
  if (opt.source_port) {
    int one = 1;
    (void)::setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in sa = to_sockaddr({0, opt.source_port});
    if (::bind(fd->get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0)
      return sys_error("binding source port " + std::to_string(opt.source_port), errno);
  }
  return fd;
}

ProbeOutcome outcome_of_errno(int err) {
  switch (err) {
    case ECONNREFUSED:
    case ECONNRESET: return ProbeOutcome::Refused;
    case ETIMEDOUT: return ProbeOutcome::Timeout;
    case EHOSTUNREACH:
    case ENETUNREACH: return ProbeOutcome::Unreachable;
    default: return ProbeOutcome::Error;
  }
}

class Timer {
 public:
  explicit Timer(int timeout_ms) : start_(Clock::now()), deadline_(start_ + std::chrono::milliseconds(timeout_ms)) {}
  [[nodiscard]] int remaining_ms() const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
    return left < 0 ? 0 : static_cast<int>(left);
  }
  [[nodiscard]] double elapsed_ms() const {
    return std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
  }

 private:
  Clock::time_point start_, deadline_;
};

/// Waits for `events` on fd; 1 ready, 0 timeout, -1 error (errno set).
int wait_for(int fd, short events, const Timer& t) {
  for (;;) {
    pollfd p{fd, events, 0};
    int r = ::poll(&p, 1, t.remaining_ms());
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

ProbeResult finish(ProbeResult r, const Timer& t) {
  r.millis = t.elapsed_ms();
  return r;
}

ProbeResult fail(ProbeOutcome o, std::string detail, const Timer& t) {
  ProbeResult r;
  r.outcome = o;
  r.detail = std::move(detail);
  return finish(std::move(r), t);
}

/// Non-blocking connect with the timer's deadline.
ProbeResult connect_tcp(Fd& fd, Endpoint4 to, const Timer& t) {
  sockaddr_in sa = to_sockaddr(to);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 && errno != EINPROGRESS)
    return fail(outcome_of_errno(errno), std::strerror(errno), t);
  int r = wait_for(fd.get(), POLLOUT, t);
  if (r < 0) return fail(ProbeOutcome::Error, std::strerror(errno), t);
  if (r == 0) return fail(ProbeOutcome::Timeout, "no answer to SYN", t);
  int err = 0;
  socklen_t len = sizeof err;
  (void)::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  if (err) return fail(outcome_of_errno(err), std::strerror(err), t);
  ProbeResult ok;
  ok.outcome = ProbeOutcome::Ok;
  return ok;
}

bool send_all(int fd, const std::string& data, const Timer& t) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (wait_for(fd, POLLOUT, t) <= 0) return false;
      continue;
    }
    return false;
  }
  return true;
}

}  // namespace

ProbeResult tcp_connect(Endpoint4 to, const ProbeOptions& opt) {
  Timer t(opt.timeout_ms);
  auto fd = make_socket(opt, SOCK_STREAM);
  if (!fd) return fail(ProbeOutcome::Error, fd.error().message, t);
  ProbeResult r = connect_tcp(*fd, to, t);
  if (!r.ok()) return r;
  if (!opt.send.empty() && !send_all(fd->get(), opt.send, t))
    return fail(ProbeOutcome::Error, "sending: " + std::string(std::strerror(errno)), t);
  if (opt.read_reply) {
    char buf[4096];
    for (;;) {
      int w = wait_for(fd->get(), POLLIN, t);
      if (w == 0) return fail(ProbeOutcome::Timeout, "connected, but no reply", t);
      if (w < 0) return fail(ProbeOutcome::Error, std::strerror(errno), t);
      ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
      if (n < 0 && errno == EAGAIN) continue;
      if (n < 0) return fail(outcome_of_errno(errno), std::strerror(errno), t);
      if (n == 0) break;
      r.reply.append(buf, static_cast<size_t>(n));
      // Enough: the echo of what we sent, or a greeting line.
      if (opt.send.empty() ? r.reply.find('\n') != std::string::npos : r.reply.size() >= opt.send.size()) break;
    }
  }
  return finish(std::move(r), t);
}

ProbeResult udp_exchange(Endpoint4 to, const std::string& payload, const ProbeOptions& opt) {
  Timer t(opt.timeout_ms);
  auto fd = make_socket(opt, SOCK_DGRAM);
  if (!fd) return fail(ProbeOutcome::Error, fd.error().message, t);
  sockaddr_in sa = to_sockaddr(to);
  // Connected, so that an ICMP port unreachable comes back as ECONNREFUSED.
  if (::connect(fd->get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0)
    return fail(outcome_of_errno(errno), std::strerror(errno), t);
  if (::send(fd->get(), payload.data(), payload.size(), 0) < 0)
    return fail(outcome_of_errno(errno), std::strerror(errno), t);
  char buf[65536];
  for (;;) {
    int w = wait_for(fd->get(), POLLIN, t);
    if (w == 0) return fail(ProbeOutcome::Timeout, "no reply", t);
    if (w < 0) return fail(ProbeOutcome::Error, std::strerror(errno), t);
    ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EAGAIN) continue;
    if (n < 0) return fail(outcome_of_errno(errno), std::strerror(errno), t);
    ProbeResult r;
    r.outcome = ProbeOutcome::Ok;
    r.reply.assign(buf, static_cast<size_t>(n));
    return finish(std::move(r), t);
  }
}

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}

}  // namespace

ProbeResult http_request(Endpoint4 to, const HttpRequest& req, const ProbeOptions& opt) {
  Timer t(opt.timeout_ms);
  auto fd = make_socket(opt, SOCK_STREAM);
  if (!fd) return fail(ProbeOutcome::Error, fd.error().message, t);
  ProbeResult r = connect_tcp(*fd, to, t);
  if (!r.ok()) return r;
  std::string host = req.host.empty() ? ipv4_str(to.ip) + ":" + std::to_string(to.port) : req.host;
  std::string msg = req.method + " " + req.path + " HTTP/1.1\r\nHost: " + host + "\r\n";
  for (const auto& [k, v] : req.headers) msg += k + ": " + v + "\r\n";
  msg += "Connection: close\r\n\r\n";
  if (!send_all(fd->get(), msg, t)) return fail(ProbeOutcome::Error, "sending the request", t);
  std::string in;
  char buf[4096];
  size_t header_end = std::string::npos;
  std::optional<size_t> content_length;
  for (;;) {
    if (header_end != std::string::npos && content_length && in.size() >= header_end + 4 + *content_length) break;
    int w = wait_for(fd->get(), POLLIN, t);
    if (w == 0) return fail(ProbeOutcome::Timeout, in.empty() ? "no response" : "incomplete response", t);
    if (w < 0) return fail(ProbeOutcome::Error, std::strerror(errno), t);
    ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
    if (n < 0 && errno == EAGAIN) continue;
    if (n < 0) return fail(outcome_of_errno(errno), std::strerror(errno), t);
    if (n == 0) break;
    in.append(buf, static_cast<size_t>(n));
    if (header_end == std::string::npos && (header_end = in.find("\r\n\r\n")) != std::string::npos) {
      size_t pos = in.find("\r\n") + 2;
      while (pos < header_end) {
        size_t eol = in.find("\r\n", pos);
        std::string line = in.substr(pos, eol - pos);
        pos = eol + 2;
        size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string k = lower(trim(line.substr(0, colon))), v = trim(line.substr(colon + 1));
        if (k == "content-length") content_length = std::strtoul(v.c_str(), nullptr, 10);
        r.http_headers.emplace_back(k, v);
      }
    }
  }
  if (header_end == std::string::npos || in.compare(0, 5, "HTTP/") != 0)
    return fail(ProbeOutcome::Error, "malformed HTTP response", t);
  size_t sp = in.find(' ');
  r.http_status = std::atoi(in.c_str() + sp + 1);
  r.reply = in.substr(header_end + 4);
  if (content_length && r.reply.size() > *content_length) r.reply.resize(*content_length);
  return finish(std::move(r), t);
}

// ---------------------------------------------------------------------------------------------
// ProbeServer

struct ProbeServer::Impl {
  enum class Kind { TcpListen, UdpSocket, HttpListen, TcpConn, HttpConn, Wake };
  struct Sock {
    Fd fd;
    Kind kind;
    std::string in, out;
    bool close_after_write = false;
  };
  ServerSpec spec;
  std::map<int, Sock> socks;
  Fd wake;
  std::thread thread;
  std::atomic<uint64_t> tcp_accepted{0}, udp_received{0}, http_requests{0};

  void loop();
  void on_readable(Sock& s, std::vector<int>& dead, std::vector<Sock>& added);
  void on_writable(Sock& s, std::vector<int>& dead);
  void handle_http(Sock& s);
};

namespace {

Result<Fd> bind_socket(const Netns* ns, int type, uint16_t port) {
  Result<Fd> fd = ns ? socket_in(*ns, AF_INET, type | SOCK_NONBLOCK) : [&]() -> Result<Fd> {
    int f = ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (f < 0) return sys_error("socket", errno);
    return Fd(f);
  }();
  if (!fd) return fd;
  int one = 1;
  (void)::setsockopt(fd->get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa = to_sockaddr({0, port});
  std::string what = std::string(type == SOCK_STREAM ? "TCP" : "UDP") + " port " + std::to_string(port) +
                     (ns && !ns->name().empty() ? " in netns " + ns->name() : "");
  if (::bind(fd->get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) return sys_error("binding " + what, errno);
  if (type == SOCK_STREAM && ::listen(fd->get(), 1024) < 0) return sys_error("listening on " + what, errno);
  return fd;
}

}  // namespace

ProbeServer::ProbeServer() = default;
ProbeServer::~ProbeServer() {
  stop();
}
ProbeServer::ProbeServer(ProbeServer&&) noexcept = default;
ProbeServer& ProbeServer::operator=(ProbeServer&& o) noexcept {
  if (this != &o) {
    stop();
    impl_ = std::move(o.impl_);
  }
  return *this;
}

Result<ProbeServer> ProbeServer::start(const ServerSpec& spec, const Netns* netns) {
  auto impl = std::make_unique<Impl>();
  impl->spec = spec;
  auto add = [&](int type, uint16_t port, Impl::Kind kind) -> Status {
    auto fd = bind_socket(netns, type, port);
    if (!fd) return fd.error();
    int f = fd->get();
    impl->socks.emplace(f, Impl::Sock{std::move(*fd), kind, {}, {}, false});
    return {};
  };
  for (auto p : spec.tcp)
    if (auto st = add(SOCK_STREAM, p, Impl::Kind::TcpListen); !st) return st.error();
  for (auto p : spec.http)
    if (auto st = add(SOCK_STREAM, p, Impl::Kind::HttpListen); !st) return st.error();
  for (auto p : spec.udp)
    if (auto st = add(SOCK_DGRAM, p, Impl::Kind::UdpSocket); !st) return st.error();
  int w = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (w < 0) return sys_error("eventfd", errno);
  impl->wake.reset(w);
  impl->thread = std::thread([p = impl.get()] { p->loop(); });
  ProbeServer s;
  s.impl_ = std::move(impl);
  return s;
}

void ProbeServer::stop() {
  if (!impl_) return;
  uint64_t one = 1;
  (void)!::write(impl_->wake.get(), &one, sizeof one);
  if (impl_->thread.joinable()) impl_->thread.join();
  impl_.reset();
}

uint64_t ProbeServer::tcp_accepted() const {
  return impl_ ? impl_->tcp_accepted.load() : 0;
}
uint64_t ProbeServer::udp_received() const {
  return impl_ ? impl_->udp_received.load() : 0;
}
uint64_t ProbeServer::http_requests() const {
  return impl_ ? impl_->http_requests.load() : 0;
}

void ProbeServer::Impl::loop() {
  std::vector<pollfd> pfds;
  for (;;) {
    pfds.clear();
    pfds.push_back({wake.get(), POLLIN, 0});
    for (auto& [fd, s] : socks) {
      short ev = POLLIN;
      if (!s.out.empty()) ev = POLLOUT;
      pfds.push_back({fd, ev, 0});
    }
    int r = ::poll(pfds.data(), pfds.size(), -1);
    if (r < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (pfds[0].revents) return;
    std::vector<int> dead;
    std::vector<Sock> added;
    for (size_t i = 1; i < pfds.size(); ++i) {
      if (!pfds[i].revents) continue;
      auto it = socks.find(pfds[i].fd);
      if (it == socks.end()) continue;
      if (pfds[i].revents & POLLOUT)
        on_writable(it->second, dead);
      else
        on_readable(it->second, dead, added);
    }
    for (int fd : dead) socks.erase(fd);
    for (auto& s : added) {
      int f = s.fd.get();
      socks.emplace(f, std::move(s));
    }
  }
}

void ProbeServer::Impl::on_readable(Sock& s, std::vector<int>& dead, std::vector<Sock>& added) {
  char buf[65536];
  switch (s.kind) {
    case Kind::TcpListen:
    case Kind::HttpListen: {
      for (;;) {
        int c = ::accept4(s.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c < 0) break;
        Sock conn{Fd(c), s.kind == Kind::TcpListen ? Kind::TcpConn : Kind::HttpConn, {}, {}, false};
        if (s.kind == Kind::TcpListen) {
          tcp_accepted++;
          if (!spec.id.empty()) conn.out = spec.id + "\n";
        }
        added.push_back(std::move(conn));
      }
      return;
    }
    case Kind::UdpSocket: {
      for (;;) {
        sockaddr_in from{};
        socklen_t len = sizeof from;
        ssize_t n = ::recvfrom(s.fd.get(), buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0) break;
        udp_received++;
        std::string reply = spec.id.empty() ? std::string(buf, static_cast<size_t>(n))
                                            : spec.id + "\n" + std::string(buf, static_cast<size_t>(n));
        (void)::sendto(s.fd.get(), reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      }
      return;
    }
    case Kind::TcpConn:
    case Kind::HttpConn: {
      ssize_t n = ::recv(s.fd.get(), buf, sizeof buf, 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      if (n <= 0) {
        dead.push_back(s.fd.get());
        return;
      }
      if (s.kind == Kind::TcpConn) {
        s.out.append(buf, static_cast<size_t>(n));
      } else {
        s.in.append(buf, static_cast<size_t>(n));
        handle_http(s);
      }
      on_writable(s, dead);
      return;
    }
    case Kind::Wake: return;
  }
}

void ProbeServer::Impl::on_writable(Sock& s, std::vector<int>& dead) {
  while (!s.out.empty()) {
    ssize_t n = ::send(s.fd.get(), s.out.data(), s.out.size(), MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (n <= 0) {
      dead.push_back(s.fd.get());
      return;
    }
    s.out.erase(0, static_cast<size_t>(n));
  }
  if (s.close_after_write) dead.push_back(s.fd.get());
}

void ProbeServer::Impl::handle_http(Sock& s) {
  size_t end = s.in.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (s.in.size() > 65536) {
      s.out = "HTTP/1.1 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      s.close_after_write = true;
    }
    return;
  }
  std::string line = s.in.substr(0, s.in.find("\r\n"));
  size_t a = line.find(' '), b = line.rfind(' ');
  std::string method = a == std::string::npos ? line : line.substr(0, a);
  std::string path = (a == std::string::npos || b <= a) ? "/" : line.substr(a + 1, b - a - 1);
  http_requests++;
  std::string body = (spec.id.empty() ? "" : spec.id + " ") + method + " " + path + "\n";
  s.out = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
          (spec.id.empty() ? "" : "X-Served-By: " + spec.id + "\r\n") + "Connection: close\r\n\r\n" + body;
  s.close_after_write = true;
  s.in.clear();
}

}  // namespace polc::runtime
