#include "polc/runtime/handles.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/magic.h>
#include <linux/neighbour.h>
#include <linux/nsfs.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/veth.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <thread>

#include "libbpf_log.h"
#include "netlink.h"

namespace polc::runtime {

// ---------------------------------------------------------------------------------------------
// Fd

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

Result<Fd> Fd::dup() const {
  int fd = ::fcntl(fd_, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return sys_error("duplicating a file descriptor", errno);
  return Fd(fd);
}

// ---------------------------------------------------------------------------------------------
// Netns

namespace {

/// Makes /run/netns a shared mount point (as `ip netns add` does), so namespaces created here
/// are visible from other mount namespaces.
Status prepare_netns_dir() {
  if (::mkdir(kNetnsDir, 0755) < 0 && errno != EEXIST) return sys_error(std::string("creating ") + kNetnsDir, errno);
  bool bound = false;
  while (::mount("", kNetnsDir, "none", MS_SHARED | MS_REC, nullptr) < 0) {
    if (errno != EINVAL || bound) return sys_error(std::string("making ") + kNetnsDir + " a shared mount", errno);
    if (::mount(kNetnsDir, kNetnsDir, "none", MS_BIND | MS_REC, nullptr) < 0)
      return sys_error(std::string("bind-mounting ") + kNetnsDir, errno);
    bound = true;
  }
  return {};
}

Result<Fd> open_ns_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return sys_error("opening " + path, errno);
  return Fd(fd);
}

bool valid_netns_name(const std::string& name) {
  return !name.empty() && name.size() < 200 && name != "." && name != ".." && name.find('/') == std::string::npos;
}

}  // namespace

Netns::~Netns() {
  if (owned_) (void)remove();
}

Netns::Netns(Netns&& o) noexcept : name_(std::move(o.name_)), fd_(std::move(o.fd_)), owned_(o.owned_) {
  o.owned_ = false;
}

Netns& Netns::operator=(Netns&& o) noexcept {
  if (this != &o) {
    if (owned_) (void)remove();
    name_ = std::move(o.name_);
    fd_ = std::move(o.fd_);
    owned_ = o.owned_;
    o.owned_ = false;
  }
  return *this;
}

Result<Netns> Netns::create(const std::string& name) {
  if (!valid_netns_name(name)) return Error{"invalid network namespace name '" + name + "'"};
  if (auto st = prepare_netns_dir(); !st) return st.error();
  std::string path = std::string(kNetnsDir) + "/" + name;
  int f = ::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
  if (f < 0) return sys_error("creating network namespace " + name, errno);
  ::close(f);
  auto fail = [&](const std::string& what, int err) -> Error {
    ::unlink(path.c_str());
    return sys_error(what + " for network namespace " + name, err);
  };
  {
    auto saved = open_ns_file("/proc/thread-self/ns/net");
    if (!saved) return fail("saving the current namespace", EBADF);
    if (::unshare(CLONE_NEWNET) < 0) return fail("unshare(CLONE_NEWNET)", errno);
    int mount_err = 0;
    if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) < 0) mount_err = errno;
    if (::setns(saved->get(), CLONE_NEWNET) < 0) {
      // Cannot happen short of a kernel bug; continuing in the wrong namespace would be worse.
      std::abort();
    }
    if (mount_err) return fail("bind-mounting", mount_err);
  }
  Netns ns;
  ns.name_ = name;
  ns.owned_ = true;
  auto fd = open_ns_file(path);
  if (!fd) return fd.error();  // ns's destructor removes the namespace
  ns.fd_ = std::move(*fd);
  // Loopback is down in a new namespace.
  auto lo = link_index(ns, "lo");
  if (!lo) return lo.error();
  if (auto st = set_link_up(ns, *lo); !st) return st.error();
  return ns;
}

Result<Netns> Netns::open(const std::string& name) {
  if (!valid_netns_name(name)) return Error{"invalid network namespace name '" + name + "'"};
  auto fd = open_ns_file(std::string(kNetnsDir) + "/" + name);
  if (!fd) return Error{"network namespace " + name + " not found (" + fd.error().message + ")"};
  // A file that is not an nsfs mount (left by a crash between create and mount) is not a netns.
  if (::ioctl(fd->get(), NS_GET_NSTYPE) != CLONE_NEWNET) return Error{"'" + name + "' is not a network namespace"};
  Netns ns;
  ns.name_ = name;
  ns.fd_ = std::move(*fd);
  return ns;
}

Result<Netns> Netns::current() {
  auto fd = open_ns_file("/proc/thread-self/ns/net");
  if (!fd) return fd.error();
  Netns ns;
  ns.fd_ = std::move(*fd);
  return ns;
}

Status Netns::remove() {
  fd_.reset();
  bool owned = owned_;
  owned_ = false;
  std::string name = std::move(name_);
  name_.clear();
  if (!owned || name.empty()) return {};
  return delete_netns(name);
}

Status delete_netns(const std::string& name) {
  if (!valid_netns_name(name)) return Error{"invalid network namespace name '" + name + "'"};
  std::string path = std::string(kNetnsDir) + "/" + name;
  if (::umount2(path.c_str(), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    return sys_error("unmounting " + path, errno);
  if (::unlink(path.c_str()) < 0 && errno != ENOENT) return sys_error("removing " + path, errno);
  return {};
}

std::vector<std::string> list_netns(const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = ::opendir(kNetnsDir);
  if (!d) return out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    if (n.compare(0, prefix.size(), prefix) == 0) out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

bool netns_exists(const std::string& name) {
  struct stat st {};
  return valid_netns_name(name) && ::stat((std::string(kNetnsDir) + "/" + name).c_str(), &st) == 0;
}

std::vector<int> kill_netns_processes(const std::string& name) {
  std::vector<int> pids;
  struct stat ns {};
  if (!valid_netns_name(name) || ::stat((std::string(kNetnsDir) + "/" + name).c_str(), &ns) < 0) return pids;
  // An unmounted leftover file is not a namespace; its inode would match nothing anyway.
  DIR* d = ::opendir("/proc");
  if (!d) return pids;
  int self = ::getpid();
  while (dirent* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (!end || *end || pid <= 0 || pid == self) continue;
    struct stat st {};
    if (::stat(("/proc/" + std::string(e->d_name) + "/ns/net").c_str(), &st) < 0) continue;
    if (st.st_ino == ns.st_ino && st.st_dev == ns.st_dev) pids.push_back(static_cast<int>(pid));
  }
  ::closedir(d);
  for (int pid : pids) ::kill(pid, SIGKILL);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  // Gone (or a zombie, which no longer holds the namespace) once its ns link disappears.
  for (int pid : pids) {
    struct stat st {};
    while (::stat(("/proc/" + std::to_string(pid) + "/ns/net").c_str(), &st) == 0 &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }
  return pids;
}

// ---------------------------------------------------------------------------------------------
// NetnsGuard, sockets, sysctls

NetnsGuard::~NetnsGuard() {
  if (saved_.valid() && ::setns(saved_.get(), CLONE_NEWNET) < 0) std::abort();  // see Netns::create
}

Result<NetnsGuard> NetnsGuard::enter(int ns_fd) {
  NetnsGuard g;
  auto saved = open_ns_file("/proc/thread-self/ns/net");
  if (!saved) return saved.error();
  if (::setns(ns_fd, CLONE_NEWNET) < 0) return sys_error("entering a network namespace", errno);
  g.saved_ = std::move(*saved);
  return g;
}

Result<Fd> socket_in(const Netns& ns, int domain, int type, int protocol) {
  auto g = NetnsGuard::enter(ns);
  if (!g) return g.error();
  int fd = ::socket(domain, type | SOCK_CLOEXEC, protocol);
  if (fd < 0) return sys_error("creating a socket in netns " + ns.name(), errno);
  return Fd(fd);
}

Status write_sysctl(const Netns& ns, const std::string& key, const std::string& value) {
  auto g = NetnsGuard::enter(ns);
  if (!g) return g.error();
  std::string path = "/proc/sys/" + key;
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return sys_error("opening " + path + " in netns " + ns.name(), errno);
  Fd f(fd);
  if (::write(fd, value.data(), value.size()) != static_cast<ssize_t>(value.size()))
    return sys_error("writing " + path + " in netns " + ns.name(), errno);
  return {};
}

// ---------------------------------------------------------------------------------------------
// Links

namespace {

Result<nl::Socket> socket_for(const Netns& ns) {
  return nl::Socket::open_in(ns);
}

std::string in_ns(const Netns& ns) {
  return ns.name().empty() ? std::string() : " in netns " + ns.name();
}

Status delete_link_by_index(int ns_fd, int ifindex, const std::string& what) {
  auto s = nl::Socket::open_in_fd(ns_fd);
  if (!s) return s.error();
  nl::Request req(RTM_DELLINK, 0);
  auto* ifi = req.body<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  auto st = s->exec(req, what);
  if (!st && st.error().message.find("No such device") != std::string::npos) return {};
  return st;
}

}  // namespace

Result<int> link_index(const Netns& ns, const std::string& name) {
  auto s = socket_for(ns);
  if (!s) return s.error();
  nl::Request req(RTM_GETLINK, 0);
  auto* ifi = req.body<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  req.put_str(IFLA_IFNAME, name);
  auto r = s->dump(req, "looking up interface " + name + in_ns(ns));
  if (!r) return r.error();
  if (r->empty()) return Error{"interface " + name + " not found" + in_ns(ns)};
  auto* h = reinterpret_cast<const nlmsghdr*>(r->front().data());
  return static_cast<const ifinfomsg*>(NLMSG_DATA(h))->ifi_index;
}

Status set_link_up(const Netns& ns, int ifindex, int master) {
  auto s = socket_for(ns);
  if (!s) return s.error();
  nl::Request req(RTM_NEWLINK, 0);
  auto* ifi = req.body<ifinfomsg>();
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  if (master) req.put_u32(IFLA_MASTER, static_cast<uint32_t>(master));
  return s->exec(req, "setting interface " + std::to_string(ifindex) + " up" + in_ns(ns));
}

Status add_address(const Netns& ns, int ifindex, Ipv4Addr ip, uint8_t prefix) {
  auto s = socket_for(ns);
  if (!s) return s.error();
  nl::Request req(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
  auto* ifa = req.body<ifaddrmsg>();
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = prefix;
  ifa->ifa_index = static_cast<uint32_t>(ifindex);
  ifa->ifa_scope = RT_SCOPE_UNIVERSE;
  req.put_ipv4(IFA_LOCAL, ip);
  req.put_ipv4(IFA_ADDRESS, ip);
  return s->exec(req, "adding address " + ipv4_str(ip) + "/" + std::to_string(prefix) + in_ns(ns));
}

Status add_neighbour(const Netns& ns, int ifindex, Ipv4Addr ip, const Mac& mac) {
  auto s = socket_for(ns);
  if (!s) return s.error();
  nl::Request req(RTM_NEWNEIGH, NLM_F_CREATE | NLM_F_REPLACE);
  auto* nd = req.body<ndmsg>();
  nd->ndm_family = AF_INET;
  nd->ndm_ifindex = ifindex;
  nd->ndm_state = NUD_PERMANENT;
  req.put_ipv4(NDA_DST, ip);
  req.put(NDA_LLADDR, mac.b.data(), mac.b.size());
  return s->exec(req, "adding neighbour " + ipv4_str(ip) + " " + mac.str() + in_ns(ns));
}

Result<std::vector<LinkInfo>> list_links(const Netns& ns) {
  auto s = socket_for(ns);
  if (!s) return s.error();
  nl::Request req(RTM_GETLINK, NLM_F_DUMP);
  req.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  auto r = s->dump(req, "listing interfaces" + in_ns(ns));
  if (!r) return r.error();
  std::vector<LinkInfo> out;
  for (const auto& m : *r) {
    auto* h = reinterpret_cast<const nlmsghdr*>(m.data());
    if (h->nlmsg_type != RTM_NEWLINK) continue;
    auto* ifi = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    LinkInfo li;
    li.ifindex = ifi->ifi_index;
    li.up = ifi->ifi_flags & IFF_UP;
    nl::for_each_attr(IFLA_RTA(ifi), IFLA_PAYLOAD(h), [&](const rtattr* a) {
      switch (a->rta_type) {
        case IFLA_IFNAME: li.name = nl::attr_str(a); break;
        case IFLA_MASTER: li.master = static_cast<int>(nl::attr_u32(a)); break;
        case IFLA_OPERSTATE:
          li.oper_up = nl::attr_len(a) >= 1 && *static_cast<const uint8_t*>(nl::attr_data(a)) == IF_OPER_UP;
          break;
        case IFLA_ADDRESS:
          if (nl::attr_len(a) == 6) std::memcpy(li.mac.b.data(), nl::attr_data(a), 6);
          break;
        case IFLA_LINKINFO:
          nl::for_each_attr(nl::attr_data(a), nl::attr_len(a), [&](const rtattr* b) {
            if (b->rta_type == IFLA_INFO_KIND) li.kind = nl::attr_str(b);
          });
          break;
        default: break;
      }
    });
    out.push_back(std::move(li));
  }
  return out;
}

Status wait_links_up(const Netns& ns, const std::vector<int>& ifindexes, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    auto links = list_links(ns);
    if (!links) return links.error();
    std::vector<std::string> down;
    for (int idx : ifindexes) {
      auto it = std::find_if(links->begin(), links->end(), [&](const LinkInfo& l) { return l.ifindex == idx; });
      if (it == links->end()) return Error{"interface " + std::to_string(idx) + " vanished" + in_ns(ns)};
      if (!it->oper_up) down.push_back(it->name);
    }
    if (down.empty()) return {};
    if (std::chrono::steady_clock::now() >= deadline) {
      std::string names;
      for (const auto& d : down) names += " " + d;
      return Error{"interfaces still down after " + std::to_string(timeout_ms) + " ms" + in_ns(ns) + ":" + names};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

Link::~Link() {
  if (owned_) (void)remove();
}

Link& Link::operator=(Link&& o) noexcept {
  if (this != &o) {
    if (owned_) (void)remove();
    ns_fd_ = std::move(o.ns_fd_);
    name_ = std::move(o.name_);
    ifindex_ = o.ifindex_;
    owned_ = o.owned_;
    o.owned_ = false;
  }
  return *this;
}

Status Link::remove() {
  bool owned = owned_;
  owned_ = false;
  if (!owned || !ns_fd_.valid()) return {};
  auto st = delete_link_by_index(ns_fd_.get(), ifindex_, "deleting interface " + name_);
  ns_fd_.reset();
  return st;
}

Result<Link> Link::create_bridge(const Netns& ns, const std::string& name) {
  if (name.empty() || name.size() >= IFNAMSIZ) return Error{"invalid interface name '" + name + "'"};
  auto s = socket_for(ns);
  if (!s) return s.error();
  nl::Request req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  req.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  req.put_str(IFLA_IFNAME, name);
  size_t li = req.begin_nest(IFLA_LINKINFO);
  req.put_str(IFLA_INFO_KIND, "bridge");
  req.end_nest(li);
  if (auto st = s->exec(req, "creating bridge " + name + in_ns(ns)); !st) return st.error();
  auto idx = link_index(ns, name);
  if (!idx) return idx.error();
  auto fd = Fd(::fcntl(ns.fd(), F_DUPFD_CLOEXEC, 0));
  Link l;
  l.ns_fd_ = std::move(fd);
  l.name_ = name;
  l.ifindex_ = *idx;
  l.owned_ = true;
  return l;
}

Result<VethPair> VethPair::create(const Netns& ns, const Netns& peer_ns, const Spec& spec) {
  for (const auto* n : {&spec.name, &spec.peer_name})
    if (n->empty() || n->size() >= IFNAMSIZ) return Error{"invalid interface name '" + *n + "' (1 to 15 characters)"};
  auto s = socket_for(ns);
  if (!s) return s.error();
  nl::Request req(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
  req.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  req.put_str(IFLA_IFNAME, spec.name);
  if (spec.mac) req.put(IFLA_ADDRESS, spec.mac->b.data(), 6);
  size_t li = req.begin_nest(IFLA_LINKINFO);
  req.put_str(IFLA_INFO_KIND, "veth");
  size_t data = req.begin_nest(IFLA_INFO_DATA);
  size_t peer = req.begin_nest(VETH_INFO_PEER);
  req.body<ifinfomsg>()->ifi_family = AF_UNSPEC;
  req.put_str(IFLA_IFNAME, spec.peer_name);
  if (spec.peer_mac) req.put(IFLA_ADDRESS, spec.peer_mac->b.data(), 6);
  req.put_u32(IFLA_NET_NS_FD, static_cast<uint32_t>(peer_ns.fd()));
  req.end_nest(peer);
  req.end_nest(data);
  req.end_nest(li);
  std::string what = "creating veth " + spec.name + in_ns(ns) + " <-> " + spec.peer_name + in_ns(peer_ns);
  if (auto st = s->exec(req, what); !st) return st.error();
  VethPair v;
  v.link_.ns_fd_ = Fd(::fcntl(ns.fd(), F_DUPFD_CLOEXEC, 0));
  v.link_.name_ = spec.name;
  v.link_.owned_ = true;
  auto idx = link_index(ns, spec.name);
  if (!idx) return idx.error();  // v's destructor cannot find it either; nothing to undo
  v.link_.ifindex_ = *idx;
  auto pidx = link_index(peer_ns, spec.peer_name);
  if (!pidx) return pidx.error();  // v's destructor deletes the pair
  v.peer_name_ = spec.peer_name;
  v.peer_ifindex_ = *pidx;
  return v;
}

// ---------------------------------------------------------------------------------------------
// Routes

namespace {

Status route_request(int ns_fd, uint16_t type, uint16_t flags, const RouteSpec& r, const std::string& what) {
  auto s = nl::Socket::open_in_fd(ns_fd);
  if (!s) return s.error();
  nl::Request req(type, flags);
  auto* rt = req.body<rtmsg>();
  rt->rtm_family = AF_INET;
  rt->rtm_dst_len = r.len;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_STATIC;
  rt->rtm_scope = r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  rt->rtm_type = RTN_UNICAST;
  if (r.len) req.put_ipv4(RTA_DST, r.dst);
  if (r.gateway) req.put_ipv4(RTA_GATEWAY, r.gateway);
  if (r.ifindex) req.put_u32(RTA_OIF, static_cast<uint32_t>(r.ifindex));
  return s->exec(req, what);
}

std::string route_str(const RouteSpec& r) {
  std::string s = ipv4_str(r.dst) + "/" + std::to_string(r.len);
  if (r.gateway) s += " via " + ipv4_str(r.gateway);
  if (r.ifindex) s += " dev " + std::to_string(r.ifindex);
  return s;
}

}  // namespace

Route::~Route() {
  if (owned_) (void)remove();
}

Route& Route::operator=(Route&& o) noexcept {
  if (this != &o) {
    if (owned_) (void)remove();
    ns_fd_ = std::move(o.ns_fd_);
    spec_ = o.spec_;
    owned_ = o.owned_;
    o.owned_ = false;
  }
  return *this;
}

Result<Route> Route::add(const Netns& ns, const RouteSpec& spec) {
  if (spec.len > 32) return Error{"invalid route prefix length " + std::to_string(spec.len)};
  if (auto st = route_request(ns.fd(), RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, spec,
                              "adding route " + route_str(spec) + in_ns(ns));
      !st)
    return st.error();
  Route r;
  r.ns_fd_ = Fd(::fcntl(ns.fd(), F_DUPFD_CLOEXEC, 0));
  r.spec_ = spec;
  r.owned_ = true;
  return r;
}

Status Route::remove() {
  bool owned = owned_;
  owned_ = false;
  if (!owned || !ns_fd_.valid()) return {};
  auto st = route_request(ns_fd_.get(), RTM_DELROUTE, 0, spec_, "deleting route " + route_str(spec_));
  ns_fd_.reset();
  if (!st && (st.error().message.find("No such process") != std::string::npos ||
              st.error().message.find("No such device") != std::string::npos))
    return {};  // already gone with its interface
  return st;
}

// ---------------------------------------------------------------------------------------------
// tc: clsact qdiscs and BPF filters (through libbpf, which talks netlink in the thread's netns)

namespace {

bpf_tc_hook make_hook(int ifindex, bpf_tc_attach_point where) {
  bpf_tc_hook h{};
  h.sz = sizeof h;
  h.ifindex = ifindex;
  h.attach_point = where;
  return h;
}

/// sys_error plus whatever libbpf said (the kernel's extended ack, e.g. "Filter already exists").
Error bpf_error(const std::string& what, int err) {
  Error e = sys_error(what, err);
  if (auto log = libbpf_log_take(); !log.empty()) e.message += " (" + log + ")";
  return e;
}

bpf_tc_attach_point attach_point(TcDirection d) {
  switch (d) {
    case TcDirection::Ingress: return BPF_TC_INGRESS;
    case TcDirection::Egress: return BPF_TC_EGRESS;
  }
  return BPF_TC_INGRESS;
}

}  // namespace

const char* tc_direction_name(TcDirection d) {
  switch (d) {
    case TcDirection::Ingress: return "ingress";
    case TcDirection::Egress: return "egress";
  }
  return "?";
}

Qdisc::~Qdisc() {
  if (owned_) (void)remove();
}

Qdisc& Qdisc::operator=(Qdisc&& o) noexcept {
  if (this != &o) {
    if (owned_) (void)remove();
    ns_fd_ = std::move(o.ns_fd_);
    ifindex_ = o.ifindex_;
    owned_ = o.owned_;
    o.owned_ = false;
  }
  return *this;
}

Result<Qdisc> Qdisc::create_clsact(const Netns& ns, int ifindex) {
  auto g = NetnsGuard::enter(ns);
  if (!g) return g.error();
  auto hook = make_hook(ifindex, static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  libbpf_log_begin();
  int err = bpf_tc_hook_create(&hook);
  Qdisc q;
  if (err && err != -EEXIST)
    return bpf_error("creating clsact qdisc on interface " + std::to_string(ifindex) + in_ns(ns), -err);
  q.ns_fd_ = Fd(::fcntl(ns.fd(), F_DUPFD_CLOEXEC, 0));
  q.ifindex_ = ifindex;
  q.owned_ = err == 0;
  return q;
}

Result<Qdisc> Qdisc::adopt_clsact(const Netns& ns, int ifindex) {
  Qdisc q;
  q.ns_fd_ = Fd(::fcntl(ns.fd(), F_DUPFD_CLOEXEC, 0));
  if (!q.ns_fd_.valid()) return sys_error("duplicating a namespace descriptor", errno);
  q.ifindex_ = ifindex;
  q.owned_ = true;
  return q;
}

Status Qdisc::remove() {
  bool owned = owned_;
  owned_ = false;
  if (!owned || !ns_fd_.valid()) return {};
  auto g = NetnsGuard::enter(ns_fd_.get());
  if (!g) return g.error();
  auto hook = make_hook(ifindex_, static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS));
  libbpf_log_begin();
  int err = bpf_tc_hook_destroy(&hook);
  ns_fd_.reset();
  if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL)
    return bpf_error("deleting clsact qdisc on interface " + std::to_string(ifindex_), -err);
  return {};
}

TcAttachment::~TcAttachment() {
  if (owned_) (void)remove();
}

TcAttachment& TcAttachment::operator=(TcAttachment&& o) noexcept {
  if (this != &o) {
    if (owned_) (void)remove();
    ns_fd_ = std::move(o.ns_fd_);
    ifindex_ = o.ifindex_;
    dir_ = o.dir_;
    handle_ = o.handle_;
    priority_ = o.priority_;
    prog_id_ = o.prog_id_;
    owned_ = o.owned_;
    o.owned_ = false;
  }
  return *this;
}

Result<TcAttachment> TcAttachment::attach(const Netns& ns, int ifindex, TcDirection dir, int prog_fd, uint32_t handle,
                                          uint32_t priority) {
  auto g = NetnsGuard::enter(ns);
  if (!g) return g.error();
  auto hook = make_hook(ifindex, attach_point(dir));
  bpf_tc_opts opts{};
  opts.sz = sizeof opts;
  opts.prog_fd = prog_fd;
  opts.handle = handle;
  opts.priority = priority;
  libbpf_log_begin();
  int err = bpf_tc_attach(&hook, &opts);
  if (err)
    return bpf_error(std::string("attaching a BPF program to tc ") + tc_direction_name(dir) + " of interface " +
                         std::to_string(ifindex) + in_ns(ns),
                     -err);
  TcAttachment t;
  t.ns_fd_ = Fd(::fcntl(ns.fd(), F_DUPFD_CLOEXEC, 0));
  t.ifindex_ = ifindex;
  t.dir_ = dir;
  t.handle_ = handle;
  t.priority_ = priority;
  t.prog_id_ = opts.prog_id;
  t.owned_ = true;
  return t;
}

Result<TcAttachment> TcAttachment::adopt(const Netns& ns, int ifindex, TcDirection dir, uint32_t handle,
                                         uint32_t priority) {
  TcAttachment t;
  t.ns_fd_ = Fd(::fcntl(ns.fd(), F_DUPFD_CLOEXEC, 0));
  if (!t.ns_fd_.valid()) return sys_error("duplicating a namespace descriptor", errno);
  t.ifindex_ = ifindex;
  t.dir_ = dir;
  t.handle_ = handle;
  t.priority_ = priority;
  t.owned_ = true;
  return t;
}

Status TcAttachment::replace(int prog_fd) {
  if (!ns_fd_.valid()) return Error{"replacing a program on an empty tc attachment"};
  auto g = NetnsGuard::enter(ns_fd_.get());
  if (!g) return g.error();
  auto hook = make_hook(ifindex_, attach_point(dir_));
  bpf_tc_opts opts{};
  opts.sz = sizeof opts;
  opts.prog_fd = prog_fd;
  opts.handle = handle_;
  opts.priority = priority_;
  opts.flags = BPF_TC_F_REPLACE;
  libbpf_log_begin();
  int err = bpf_tc_attach(&hook, &opts);
  if (err)
    return bpf_error(std::string("replacing the BPF program on tc ") + tc_direction_name(dir_) + " of interface " +
                         std::to_string(ifindex_),
                     -err);
  prog_id_ = opts.prog_id;
  return {};
}

Status TcAttachment::remove() {
  bool owned = owned_;
  owned_ = false;
  if (!owned || !ns_fd_.valid()) return {};
  auto g = NetnsGuard::enter(ns_fd_.get());
  if (!g) return g.error();
  auto hook = make_hook(ifindex_, attach_point(dir_));
  bpf_tc_opts opts{};
  opts.sz = sizeof opts;
  opts.handle = handle_;
  opts.priority = priority_;
  libbpf_log_begin();
  int err = bpf_tc_detach(&hook, &opts);
  ns_fd_.reset();
  if (err && err != -ENOENT && err != -ENODEV && err != -EINVAL)
    return bpf_error(std::string("detaching the BPF program from tc ") + tc_direction_name(dir_) + " of interface " +
                         std::to_string(ifindex_),
                     -err);
  return {};
}

Result<Fd> load_tc_verdict_program(bool pass, const std::string& name) {
  bpf_insn insns[2] = {};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;
  insns[0].dst_reg = BPF_REG_0;
  insns[0].imm = pass ? TC_ACT_OK : TC_ACT_SHOT;
  insns[1].code = BPF_JMP | BPF_EXIT;
  libbpf_log_begin();
  int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, name.c_str(), "GPL", insns, 2, nullptr);
  if (fd < 0) return bpf_error("loading BPF program " + name, -fd);
  return Fd(fd);
}

Result<std::vector<TcFilterInfo>> list_tc_filters(const Netns& ns, int ifindex) {
  auto s = socket_for(ns);
  if (!s) return s.error();
  std::vector<TcFilterInfo> out;
  for (TcDirection dir : {TcDirection::Ingress, TcDirection::Egress}) {
    nl::Request req(RTM_GETTFILTER, NLM_F_DUMP);
    auto* tc = req.body<tcmsg>();
    tc->tcm_family = AF_UNSPEC;
    tc->tcm_ifindex = ifindex;
    tc->tcm_parent = TC_H_MAKE(TC_H_CLSACT, dir == TcDirection::Ingress ? TC_H_MIN_INGRESS : TC_H_MIN_EGRESS);
    auto r = s->dump(req, "listing tc filters on interface " + std::to_string(ifindex) + in_ns(ns));
    if (!r) {
      // No clsact qdisc: nothing attached.
      if (r.error().message.find("Invalid argument") != std::string::npos ||
          r.error().message.find("No such file") != std::string::npos)
        continue;
      return r.error();
    }
    for (const auto& m : *r) {
      auto* h = reinterpret_cast<const nlmsghdr*>(m.data());
      if (h->nlmsg_type != RTM_NEWTFILTER) continue;
      auto* t = static_cast<const tcmsg*>(NLMSG_DATA(h));
      TcFilterInfo f;
      f.dir = dir;
      f.handle = t->tcm_handle;
      f.priority = TC_H_MAJ(t->tcm_info) >> 16;
      bool bpf = false;
      bool has_prog = false;
      nl::for_each_attr(reinterpret_cast<const uint8_t*>(t) + NLMSG_ALIGN(sizeof(tcmsg)),
                        h->nlmsg_len - NLMSG_LENGTH(sizeof(tcmsg)), [&](const rtattr* a) {
                          if (a->rta_type == TCA_KIND) bpf = nl::attr_str(a) == "bpf";
                          if (a->rta_type != TCA_OPTIONS) return;
                          nl::for_each_attr(nl::attr_data(a), nl::attr_len(a), [&](const rtattr* b) {
                            if (b->rta_type == TCA_BPF_NAME) f.prog_name = nl::attr_str(b);
                            if (b->rta_type == TCA_BPF_ID) {
                              f.prog_id = nl::attr_u32(b);
                              has_prog = true;
                            }
                          });
                        });
      // Filters attached by fd get the name "<prog name>:[<prog id>]" from the kernel.
      if (auto pos = f.prog_name.rfind(":["); pos != std::string::npos && f.prog_name.back() == ']')
        f.prog_name.resize(pos);
      if (bpf && has_prog) out.push_back(std::move(f));
    }
  }
  return out;
}

// ---- tcx links ------------------------------------------------------------------------------

namespace {
// From the kernel's UAPI (linux/bpf.h of 6.6); the build machine's headers may predate tcx.
constexpr int kBpfTcxIngress = 46;
constexpr int kBpfTcxEgress = 47;

int tcx_attach_type(TcDirection dir) {
  return dir == TcDirection::Ingress ? kBpfTcxIngress : kBpfTcxEgress;
}

std::string prog_name_of(uint32_t id) {
  int fd = bpf_prog_get_fd_by_id(id);
  if (fd < 0) return {};
  Fd owned(fd);
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return {};
  return info.name;
}
}  // namespace

void TcxLink::drop() {
  if (!owned_ || !fd_.valid()) return;
  (void)bpf_link_detach(fd_.get());
  if (!pin_.empty()) (void)::unlink(pin_.c_str());
  owned_ = false;
}

TcxLink::~TcxLink() {
  drop();
}

TcxLink& TcxLink::operator=(TcxLink&& o) noexcept {
  if (this != &o) {
    drop();
    fd_ = std::move(o.fd_);
    pin_ = std::move(o.pin_);
    owned_ = o.owned_;
    o.owned_ = false;
  }
  return *this;
}

bool TcxLink::supported() {
  static const bool yes = [] {
    uint32_t ids[1];
    uint32_t count = 1;
    // Loopback exists in every namespace; a kernel without tcx rejects the attach type.
    int err = bpf_prog_query(1, static_cast<bpf_attach_type>(kBpfTcxIngress), 0, nullptr, ids, &count);
    return err == 0 || errno == ENOSPC;
  }();
  return yes;
}

Result<TcxLink> TcxLink::attach(const Netns& ns, int ifindex, TcDirection dir, int prog_fd) {
  auto guard = NetnsGuard::enter(ns);
  if (!guard) return guard.error();
  libbpf_log_begin();
  int fd = bpf_link_create(prog_fd, ifindex, static_cast<bpf_attach_type>(tcx_attach_type(dir)), nullptr);
  if (fd < 0)
    return sys_error(
        std::string("attaching a tcx link (") + tc_direction_name(dir) + ", ifindex " + std::to_string(ifindex) + ")",
        -fd);
  TcxLink l;
  l.fd_ = Fd(fd);
  l.owned_ = true;
  return l;
}

Result<TcxLink> TcxLink::open_pinned(const std::string& path) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return sys_error("opening the pinned link " + path, errno);
  TcxLink l;
  l.fd_ = Fd(fd);
  return l;
}

namespace {
bool link_info(int fd, bpf_link_info& info) {
  info = {};
  uint32_t len = sizeof info;
  return bpf_obj_get_info_by_fd(fd, &info, &len) == 0;
}
}  // namespace

namespace {
/// The tcx member of bpf_link_info (newer than the build machine's headers): ifindex and
/// attach type, where the union of per-type members starts.
std::pair<uint32_t, uint32_t> tcx_info(int fd) {
  bpf_link_info info;
  if (!link_info(fd, info)) return {0, 0};
  uint32_t tcx[2] = {0, 0};
  std::memcpy(tcx, reinterpret_cast<const char*>(&info) + offsetof(bpf_link_info, raw_tracepoint), sizeof tcx);
  return {tcx[0], tcx[1]};
}
}  // namespace

bool TcxLink::attached() const {
  return tcx_info(fd_.get()).first != 0;  // a link whose interface went away reports ifindex 0
}

TcDirection TcxLink::direction() const {
  return tcx_info(fd_.get()).second == static_cast<uint32_t>(kBpfTcxEgress) ? TcDirection::Egress
                                                                            : TcDirection::Ingress;
}

uint32_t TcxLink::prog_id() const {
  bpf_link_info info;
  return link_info(fd_.get(), info) ? info.prog_id : 0;
}

Status TcxLink::update(int prog_fd) {
  if (bpf_link_update(fd_.get(), prog_fd, nullptr) != 0) return sys_error("updating a tcx link", errno);
  return {};
}

// Pins need a BPF filesystem at /sys/fs/bpf. Like a CNI agent, polnode mounts one there when the
// machine has none (systemd mounts it at boot; minimal VMs and containers often do not).
Status ensure_bpffs() {
  constexpr const char* kBpfRoot = "/sys/fs/bpf";
  struct statfs fs {};
  if (::statfs(kBpfRoot, &fs) == 0 && fs.f_type == BPF_FS_MAGIC) return {};
  if (::mkdir(kBpfRoot, 0700) < 0 && errno != EEXIST) return sys_error(std::string("creating ") + kBpfRoot, errno);
  if (::mount("bpf", kBpfRoot, "bpf", 0, "mode=0700") < 0)
    return Error{std::string(kBpfRoot) + " is not a BPF filesystem and mounting one failed: " + std::strerror(errno) +
                 " (mount -t bpf bpf /sys/fs/bpf)"};
  if (::statfs(kBpfRoot, &fs) < 0 || fs.f_type != BPF_FS_MAGIC)
    return Error{std::string(kBpfRoot) + " is not a BPF filesystem after mounting one"};
  return {};
}

Status TcxLink::pin(const std::string& path) {
  if (path.rfind("/sys/fs/bpf/", 0) == 0)
    if (auto st = ensure_bpffs(); !st) return st;
  if (bpf_obj_pin(fd_.get(), path.c_str()) != 0) return sys_error("pinning a tcx link at " + path, errno);
  pin_ = path;
  return {};
}

Status TcxLink::detach() {
  if (!fd_.valid()) return {};
  if (bpf_link_detach(fd_.get()) != 0 && errno != ENOLINK && errno != ENOENT && errno != EINVAL)
    return sys_error("detaching a tcx link", errno);
  owned_ = false;
  return {};
}

Result<std::vector<uint32_t>> list_tcx_programs(const Netns& ns, int ifindex, TcDirection dir) {
  auto guard = NetnsGuard::enter(ns);
  if (!guard) return guard.error();
  uint32_t ids[64];
  uint32_t count = 64;
  if (bpf_prog_query(ifindex, static_cast<bpf_attach_type>(tcx_attach_type(dir)), 0, nullptr, ids, &count) != 0) {
    if (errno == EINVAL || errno == EOPNOTSUPP) return std::vector<uint32_t>{};  // no tcx
    return sys_error("querying the tcx programs of ifindex " + std::to_string(ifindex), errno);
  }
  return std::vector<uint32_t>(ids, ids + std::min<uint32_t>(count, 64));
}

Result<std::vector<TcFilterInfo>> list_tc_programs(const Netns& ns, int ifindex) {
  std::vector<TcFilterInfo> out;
  for (TcDirection d : {TcDirection::Ingress, TcDirection::Egress}) {
    auto ids = list_tcx_programs(ns, ifindex, d);
    if (!ids) return ids.error();
    for (uint32_t id : *ids) {
      TcFilterInfo f;
      f.dir = d;
      f.prog_id = id;
      f.prog_name = prog_name_of(id);
      f.tcx = true;
      out.push_back(std::move(f));
    }
  }
  auto filters = list_tc_filters(ns, ifindex);
  if (!filters) return filters.error();
  for (auto& f : *filters) out.push_back(std::move(f));
  return out;
}

}  // namespace polc::runtime
