// RAII types for every kernel object the runtime creates: file descriptors, named network
// namespaces, veth pairs, links, routes, clsact qdiscs and tc BPF attachments. Each is
// non-copyable and movable; the destructor removes the object unless release() was called
// (the lab and `polnode apply` release objects that must outlive the process, and find them
// again by name). Destructors never throw and ignore "already gone".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "polc/runtime/net.h"
#include "polc/runtime/result.h"

namespace polc::runtime {

/// An owned file descriptor (closed on destruction).
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] bool valid() const { return fd_ >= 0; }
  /// Gives up ownership and returns the descriptor.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);
  /// A close-on-exec duplicate.
  [[nodiscard]] Result<Fd> dup() const;

 private:
  int fd_ = -1;
};

/// Where named network namespaces live (as `ip netns` does): /run/netns/NAME is a bind mount
/// of the namespace's nsfs inode.
inline constexpr const char* kNetnsDir = "/run/netns";

/// A named network namespace. create() makes a new one and owns it (deleted on destruction
/// unless released); open() refers to an existing one without owning it.
class Netns {
 public:
  Netns() = default;
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  Netns(Netns&& o) noexcept;
  Netns& operator=(Netns&& o) noexcept;

  /// Creates /run/netns/NAME with a fresh network namespace (loopback up). Fails if the name
  /// exists. The calling thread's namespace is unchanged.
  static Result<Netns> create(const std::string& name);
  /// Opens an existing named namespace; the returned object does not own it.
  static Result<Netns> open(const std::string& name);
  /// The namespace the calling thread is in (not owned, no name).
  static Result<Netns> current();

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] std::string path() const { return std::string(kNetnsDir) + "/" + name_; }
  [[nodiscard]] int fd() const { return fd_.get(); }
  [[nodiscard]] bool valid() const { return fd_.valid(); }
  [[nodiscard]] bool owned() const { return owned_; }
  /// Keep the namespace when this object is destroyed.
  void release() { owned_ = false; }
  /// Deletes the namespace now (if owned); afterwards the object is empty.
  Status remove();

 private:
  std::string name_;
  Fd fd_;
  bool owned_ = false;
};

/// Deletes the named namespace: unmounts and unlinks /run/netns/NAME. Succeeds when it does not
/// exist. Processes still inside keep the namespace alive; see kill_netns_processes().
Status delete_netns(const std::string& name);
/// Names in /run/netns that start with `prefix`, sorted.
[[nodiscard]] std::vector<std::string> list_netns(const std::string& prefix);
/// Whether /run/netns/NAME exists.
[[nodiscard]] bool netns_exists(const std::string& name);
/// Sends SIGKILL to every process whose network namespace is /run/netns/NAME and waits (up to
/// a second) for them to go. Returns the pids it signalled.
[[nodiscard]] std::vector<int> kill_netns_processes(const std::string& name);

/// Enters a network namespace on the calling thread; the destructor returns to the previous one.
class NetnsGuard {
 public:
  ~NetnsGuard();
  NetnsGuard(const NetnsGuard&) = delete;
  NetnsGuard& operator=(const NetnsGuard&) = delete;
  NetnsGuard(NetnsGuard&& o) noexcept = default;
  NetnsGuard& operator=(NetnsGuard&&) = delete;

  /// Enters the namespace behind `ns_fd` (an nsfs descriptor).
  static Result<NetnsGuard> enter(int ns_fd);
  static Result<NetnsGuard> enter(const Netns& ns) { return enter(ns.fd()); }

 private:
  NetnsGuard() = default;
  Fd saved_;
};

/// Creates a socket inside a namespace (a socket stays in the namespace it was created in, so
/// the caller can use it from anywhere). Close-on-exec.
[[nodiscard]] Result<Fd> socket_in(const Netns& ns, int domain, int type, int protocol = 0);

/// Writes a sysctl of the namespace, e.g. ("net/ipv4/ip_forward", "1").
Status write_sysctl(const Netns& ns, const std::string& key, const std::string& value);

/// A network interface that this object deletes on destruction (deleting one end of a veth
/// pair deletes both). Used for veth pairs and bridges.
class Link {
 public:
  Link() = default;
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  Link(Link&& o) noexcept = default;
  Link& operator=(Link&& o) noexcept;

  /// Creates a bridge named `name` in `ns` (down).
  static Result<Link> create_bridge(const Netns& ns, const std::string& name);

  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] int ifindex() const { return ifindex_; }
  [[nodiscard]] bool valid() const { return ns_fd_.valid(); }
  void release() { owned_ = false; }
  Status remove();

 private:
  friend class VethPair;
  Fd ns_fd_;
  std::string name_;
  int ifindex_ = 0;
  bool owned_ = false;
};

/// A veth pair: `name` in one namespace, `peer_name` in another (or the same), created in one
/// netlink request so the peer never appears in the first namespace.
class VethPair {
 public:
  struct Spec {
    std::string name;
    std::string peer_name;
    std::optional<Mac> mac;
    std::optional<Mac> peer_mac;
  };
  static Result<VethPair> create(const Netns& ns, const Netns& peer_ns, const Spec& spec);

  [[nodiscard]] const Link& link() const { return link_; }
  [[nodiscard]] int ifindex() const { return link_.ifindex(); }
  [[nodiscard]] int peer_ifindex() const { return peer_ifindex_; }
  [[nodiscard]] const std::string& name() const { return link_.name(); }
  [[nodiscard]] const std::string& peer_name() const { return peer_name_; }
  void release() { link_.release(); }
  Status remove() { return link_.remove(); }

 private:
  Link link_;
  std::string peer_name_;
  int peer_ifindex_ = 0;
};

/// Brings an interface up and optionally enslaves it to a bridge (master ifindex).
Status set_link_up(const Netns& ns, int ifindex, int master = 0);
/// Index of the interface called `name` in `ns`; an error when there is none.
[[nodiscard]] Result<int> link_index(const Netns& ns, const std::string& name);
/// Adds ip/prefix to an interface.
Status add_address(const Netns& ns, int ifindex, Ipv4Addr ip, uint8_t prefix);
/// Adds a permanent neighbour entry (static ARP).
Status add_neighbour(const Netns& ns, int ifindex, Ipv4Addr ip, const Mac& mac);

/// Interface facts as the kernel reports them.
struct LinkInfo {
  int ifindex = 0;
  std::string name;
  std::string kind;  ///< "veth", "bridge", ... ; empty for loopback/physical
  Mac mac;
  bool up = false;       ///< administratively up (IFF_UP)
  bool oper_up = false;  ///< operationally up: carrier on and the kernel's link watcher done
  int master = 0;
};
[[nodiscard]] Result<std::vector<LinkInfo>> list_links(const Netns& ns);
/// Waits until every interface in `ifindexes` is operationally up. A veth drops what it is
/// given between "set up" and the (asynchronous) activation of its queue, so callers that send
/// right away wait here first. Fails after `timeout_ms` naming the interfaces still down.
Status wait_links_up(const Netns& ns, const std::vector<int>& ifindexes, int timeout_ms = 3000);

/// An IPv4 route: dst/len via an optional gateway, out of an interface.
struct RouteSpec {
  Ipv4Addr dst = 0;
  uint8_t len = 32;
  Ipv4Addr gateway = 0;  ///< 0 = directly connected (scope link)
  int ifindex = 0;
};

/// A route that is deleted on destruction.
class Route {
 public:
  Route() = default;
  ~Route();
  Route(const Route&) = delete;
  Route& operator=(const Route&) = delete;
  Route(Route&&) noexcept = default;
  Route& operator=(Route&& o) noexcept;

  static Result<Route> add(const Netns& ns, const RouteSpec& spec);
  [[nodiscard]] const RouteSpec& spec() const { return spec_; }
  void release() { owned_ = false; }
  Status remove();

 private:
  Fd ns_fd_;
  RouteSpec spec_;
  bool owned_ = false;
};

/// A clsact qdisc on an interface (the hook tc BPF programs attach to). create() adopts an
/// existing clsact without owning it, so it never deletes a qdisc it did not make.
class Qdisc {
 public:
  Qdisc() = default;
  ~Qdisc();
  Qdisc(const Qdisc&) = delete;
  Qdisc& operator=(const Qdisc&) = delete;
  Qdisc(Qdisc&&) noexcept = default;
  Qdisc& operator=(Qdisc&& o) noexcept;

  static Result<Qdisc> create_clsact(const Netns& ns, int ifindex);
  /// Takes ownership of the clsact qdisc that exists on the interface (found by name and
  /// index: cleanup by a later process).
  static Result<Qdisc> adopt_clsact(const Netns& ns, int ifindex);
  [[nodiscard]] int ifindex() const { return ifindex_; }
  [[nodiscard]] bool owned() const { return owned_; }
  void release() { owned_ = false; }
  Status remove();

 private:
  Fd ns_fd_;
  int ifindex_ = 0;
  bool owned_ = false;
};

/// Which side of an interface a tc program runs on. For a pod's node-side veth, Ingress sees
/// packets leaving the pod and Egress sees packets going to the pod.
enum class TcDirection : uint8_t { Ingress, Egress };
[[nodiscard]] const char* tc_direction_name(TcDirection d);

/// A BPF program attached as a direct-action tc filter (clsact must exist). Detached on
/// destruction. replace() swaps the program in one netlink operation: every packet runs either
/// the old or the new program, never neither.
class TcAttachment {
 public:
  TcAttachment() = default;
  ~TcAttachment();
  TcAttachment(const TcAttachment&) = delete;
  TcAttachment& operator=(const TcAttachment&) = delete;
  TcAttachment(TcAttachment&&) noexcept = default;
  TcAttachment& operator=(TcAttachment&& o) noexcept;

  static constexpr uint32_t kDefaultHandle = 1;
  static constexpr uint32_t kDefaultPriority = 1;

  /// Attaches `prog_fd`. Fails (EEXIST) when a filter with the same handle and priority exists.
  static Result<TcAttachment> attach(const Netns& ns, int ifindex, TcDirection dir, int prog_fd,
                                     uint32_t handle = kDefaultHandle, uint32_t priority = kDefaultPriority);
  /// Takes ownership of an existing filter (e.g. found with list_tc_filters), so that
  /// remove() or the destructor detaches it.
  static Result<TcAttachment> adopt(const Netns& ns, int ifindex, TcDirection dir, uint32_t handle, uint32_t priority);
  /// Atomically replaces the attached program.
  Status replace(int prog_fd);

  [[nodiscard]] int ifindex() const { return ifindex_; }
  [[nodiscard]] TcDirection direction() const { return dir_; }
  [[nodiscard]] uint32_t prog_id() const { return prog_id_; }
  void release() { owned_ = false; }
  Status remove();

 private:
  Fd ns_fd_;
  int ifindex_ = 0;
  TcDirection dir_ = TcDirection::Ingress;
  uint32_t handle_ = kDefaultHandle;
  uint32_t priority_ = kDefaultPriority;
  uint32_t prog_id_ = 0;
  bool owned_ = false;
};

/// Makes sure /sys/fs/bpf is a BPF filesystem, mounting one there when it is not (systemd does
/// at boot; minimal VMs and containers often do not). Pins need it.
Status ensure_bpffs();

/// A BPF program attached to an interface's tc hook through a tcx link (Linux 6.6): the
/// hook runs it without a qdisc or a classifier in between, which is most of what a tc program
/// costs on a fast path. The link lives while a descriptor or a bpffs pin refers to it (or
/// until the interface goes away). Detached on destruction unless released. update() swaps
/// the program atomically.
class TcxLink {
 public:
  TcxLink() = default;
  ~TcxLink();
  TcxLink(const TcxLink&) = delete;
  TcxLink& operator=(const TcxLink&) = delete;
  TcxLink(TcxLink&&) noexcept = default;
  TcxLink& operator=(TcxLink&& o) noexcept;

  /// Whether the running kernel has tcx hooks (probed once).
  static bool supported();
  /// Attaches `prog_fd`. Fails on kernels without tcx.
  static Result<TcxLink> attach(const Netns& ns, int ifindex, TcDirection dir, int prog_fd);
  /// Opens a pinned link without owning it (the pin keeps it).
  static Result<TcxLink> open_pinned(const std::string& path);
  /// Whether the link is still attached (the interface exists), and the program it runs.
  [[nodiscard]] bool attached() const;
  [[nodiscard]] uint32_t prog_id() const;
  [[nodiscard]] TcDirection direction() const;
  Status update(int prog_fd);
  /// Pins the link; an owned link that is destroyed unreleased takes its pin with it.
  Status pin(const std::string& path);
  /// Detaches the link (from every holder of it, pins included).
  Status detach();
  void release() { owned_ = false; }
  [[nodiscard]] int fd() const { return fd_.get(); }

 private:
  void drop();
  Fd fd_;
  std::string pin_;
  bool owned_ = false;
};

/// The programs attached to an interface's tcx hooks (empty without tcx).
[[nodiscard]] Result<std::vector<uint32_t>> list_tcx_programs(const Netns& ns, int ifindex, TcDirection dir);

/// Loads a two-instruction tc program that returns TC_ACT_OK (pass) or TC_ACT_SHOT (drop) for
/// every packet: the fail-closed placeholder, and a fixture for kernel tests.
[[nodiscard]] Result<Fd> load_tc_verdict_program(bool pass, const std::string& name);

/// A BPF filter found on an interface (for status and cleanup).
struct TcFilterInfo {
  TcDirection dir = TcDirection::Ingress;
  uint32_t handle = 0;
  uint32_t priority = 0;
  uint32_t prog_id = 0;
  std::string prog_name;  ///< the program's name as tc reports it (section or function name)
  bool tcx = false;       ///< attached through a tcx link (handle and priority 0)
};
/// BPF filters on both clsact hooks of an interface; empty when there is no clsact.
[[nodiscard]] Result<std::vector<TcFilterInfo>> list_tc_filters(const Netns& ns, int ifindex);
/// Every BPF program on the interface's tc hooks: tcx links first, then clsact filters.
[[nodiscard]] Result<std::vector<TcFilterInfo>> list_tc_programs(const Netns& ns, int ifindex);

}  // namespace polc::runtime
