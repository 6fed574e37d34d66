// Building, inspecting and tearing down the lab (see lab.h and docs/runtime.md for the topology).
#include "polc/runtime/lab.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

namespace polc::runtime {

namespace {

constexpr const char* kBpfPinRoot = "/sys/fs/bpf/polnode";
constexpr const char* kUnderlayIf = "pl-ul";
constexpr const char* kUnderlayBridge = "pl-br";
constexpr const char* kPodIf = "eth0";

/// FNV-1a, for stable interface names.
uint32_t fnv1a(std::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

std::string hex8(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

bool valid_k8s_name(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           (c >= 'A' && c <= 'Z');
  });
}

/// Pod MAC: 0a:58 followed by the IPv4 address (the convention of the Kubernetes CNI plugins).
Mac pod_mac(Ipv4Addr ip) {
  return Mac{{0x0a, 0x58, uint8_t(ip >> 24), uint8_t(ip >> 16), uint8_t(ip >> 8), uint8_t(ip)}};
}

Status remove_tree(const std::string& path, std::vector<std::string>* removed) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) < 0) return errno == ENOENT ? Status{} : Status{sys_error("stat " + path, errno)};
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = ::opendir(path.c_str())) {
      std::vector<std::string> children;
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") children.push_back(path + "/" + n);
      }
      ::closedir(d);
      for (const auto& c : children)
        if (auto s = remove_tree(c, nullptr); !s) return s;
    }
    if (::rmdir(path.c_str()) < 0 && errno != ENOENT) return sys_error("removing " + path, errno);
  } else if (::unlink(path.c_str()) < 0 && errno != ENOENT) {
    return sys_error("removing " + path, errno);
  }
  if (removed) removed->push_back(path);
  return {};
}

Status write_file_atomic(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return sys_error("writing " + tmp, errno);
    out << text;
    out.flush();
    if (!out) return sys_error("writing " + tmp, errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) < 0) return sys_error("renaming " + tmp, errno);
  return {};
}

Status mkdirs(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i == path.size() || path[i] == '/') {
      std::string p = path.substr(0, i);
      if (::mkdir(p.c_str(), 0755) < 0 && errno != EEXIST) return sys_error("creating " + p, errno);
    }
  }
  return {};
}

/// Adds a route that lives as long as its namespace.
Status add_kept_route(const Netns& ns, const RouteSpec& spec) {
  auto r = Route::add(ns, spec);
  if (!r) return r.error();
  r->release();
  return {};
}

Status validate_spec(const LabSpec& spec) {
  if (auto st = validate_lab_name(spec.name); !st) return st;
  if (spec.nodes.empty()) return Error{"the lab needs at least one node"};
  if (spec.underlay_prefix < 8 || spec.underlay_prefix > 30)
    return Error{"underlay prefix /" + std::to_string(spec.underlay_prefix) + " out of range (8..30)"};
  uint32_t mask = ~0u << (32 - spec.underlay_prefix);
  std::set<std::string> node_names;
  std::set<Ipv4Addr> ips;
  for (const auto& n : spec.nodes) {
    if (!valid_k8s_name(n.name)) return Error{"invalid node name '" + n.name + "'"};
    if (!node_names.insert(n.name).second) return Error{"duplicate node '" + n.name + "'"};
    if (n.ip == 0) return Error{"node '" + n.name + "' has no IP"};
    if (!ips.insert(n.ip).second) return Error{"node '" + n.name + "' reuses IP " + ipv4_str(n.ip)};
    if ((n.ip & mask) != (spec.nodes.front().ip & mask))
      return Error{"node '" + n.name + "' (" + ipv4_str(n.ip) + ") is not in the underlay network " +
                   ipv4_str(spec.nodes.front().ip & mask) + "/" + std::to_string(spec.underlay_prefix)};
  }
  std::set<std::string> pods;
  for (const auto& p : spec.pods) {
    if (!valid_k8s_name(p.ns) || !valid_k8s_name(p.name)) return Error{"invalid pod name '" + p.full_name() + "'"};
    if (!pods.insert(p.full_name()).second) return Error{"duplicate pod '" + p.full_name() + "'"};
    if (!node_names.count(p.node)) return Error{"pod '" + p.full_name() + "' is on unknown node '" + p.node + "'"};
    if (p.host_network) continue;
    if (p.ip == 0) return Error{"pod '" + p.full_name() + "' has no IP"};
    if (p.ip == kPodGateway) return Error{"pod '" + p.full_name() + "' uses the gateway address 169.254.1.1"};
    if (!ips.insert(p.ip).second) return Error{"pod '" + p.full_name() + "' reuses IP " + ipv4_str(p.ip)};
  }
  return {};
}

/// Builds a lab; every namespace it creates is owned until commit, so an early return removes
/// them all (and everything inside them).
class LabBuilder {
 public:
  LabBuilder(const LabSpec& spec, const LabUpOptions& opt) : spec_(spec), opt_(opt) {
    owned_.reserve(1 + spec.nodes.size() + spec.pods.size());
  }

  Result<LabState> run() {
    state_.spec = spec_;
    if (auto st = build_underlay(); !st) return st.error();
    for (size_t i = 0; i < spec_.nodes.size(); ++i)
      if (auto st = build_node(i); !st) return st.error();
    for (const auto& p : spec_.pods)
      if (auto st = build_pod(p); !st) return st.error();
    if (auto st = route_between_nodes(); !st) return st.error();
    // Traffic sent before an interface is operationally up is dropped: wait, so that the lab is
    // usable the moment lab_up returns.
    for (const auto& [name, ifindexes] : wait_for_)
      if (auto st = wait_links_up(ns(name), ifindexes); !st) return st.error();
    if (auto st = save(); !st) return st.error();
    for (auto& ns : owned_) ns.release();
    return std::move(state_);
  }

 private:
  Result<Netns*> make_netns(const std::string& suffix) {
    if (opt_.fail_after_netns >= 0 && created_ >= opt_.fail_after_netns)
      return Error{"injected failure after " + std::to_string(created_) + " namespaces"};
    if (opt_.crash_after_netns >= 0 && created_ >= opt_.crash_after_netns) std::abort();
    auto ns = Netns::create(lab_prefix(spec_.name) + suffix);
    if (!ns) return ns.error();
    ++created_;
    owned_.push_back(std::move(*ns));
    by_name_[owned_.back().name()] = owned_.size() - 1;
    return &owned_.back();
  }
  Netns& ns(const std::string& name) { return owned_[by_name_.at(name)]; }

  Status build_underlay() {
    auto ul = make_netns("ul");
    if (!ul) return ul.error();
    auto br = Link::create_bridge(**ul, kUnderlayBridge);
    if (!br) return br.error();
    br->release();  // lives and dies with the namespace
    if (auto st = set_link_up(**ul, br->ifindex()); !st) return st;
    state_.underlay_netns = (*ul)->name();
    state_.underlay_bridge = kUnderlayBridge;
    bridge_ifindex_ = br->ifindex();
    // Not waited for: the bridge forwards between its ports whatever its own operstate, which
    // the kernel updates lazily (up to a second later).
    return {};
  }

  Status build_node(size_t i) {
    const LabNode& n = spec_.nodes[i];
    auto nsr = make_netns("n-" + n.name);
    if (!nsr) return nsr.error();
    Netns& node = **nsr;
    // Interfaces created later inherit "default"; IPv6 is off so that flows show only what the
    // tests send.
    for (auto [key, value] : {std::pair{"net/ipv4/ip_forward", "1"},
                              {"net/ipv4/conf/all/rp_filter", "0"},
                              {"net/ipv4/conf/default/rp_filter", "0"},
                              {"net/ipv6/conf/all/disable_ipv6", "1"},
                              {"net/ipv6/conf/default/disable_ipv6", "1"}})
      if (auto st = write_sysctl(node, key, value); !st) return st;
    Netns& ul = ns(state_.underlay_netns);
    auto veth = VethPair::create(node, ul, {kUnderlayIf, "pl-n" + std::to_string(i), std::nullopt, std::nullopt});
    if (!veth) return veth.error();
    veth->release();
    if (auto st = add_address(node, veth->ifindex(), n.ip, spec_.underlay_prefix); !st) return st;
    if (auto st = set_link_up(node, veth->ifindex()); !st) return st;
    if (auto st = set_link_up(ul, veth->peer_ifindex(), bridge_ifindex_); !st) return st;
    state_.nodes.push_back({n, node.name(), kUnderlayIf});
    wait_for_[node.name()].push_back(veth->ifindex());
    wait_for_[ul.name()].push_back(veth->peer_ifindex());
    underlay_ifindex_[n.name] = veth->ifindex();
    return {};
  }

  std::string host_if_name(const LabPod& p) {
    for (int salt = 0;; ++salt) {
      std::string name = "pl" + hex8(fnv1a(p.full_name() + (salt ? "#" + std::to_string(salt) : "")));
      if (used_if_names_[p.node].insert(name).second) return name;
    }
  }

  Status build_pod(const LabPod& p) {
    const LabNodeState* nst = state_.find_node(p.node);
    Netns& node = ns(nst->netns);
    LabPodState ps;
    ps.pod = p;
    ps.node_netns = node.name();
    if (p.host_network) {
      ps.netns = node.name();
      state_.pods.push_back(std::move(ps));
      return {};
    }
    auto podr = make_netns("p-" + p.ns + "." + p.name);
    if (!podr) return podr.error();
    Netns& pod = **podr;
    for (auto [key, value] :
         {std::pair{"net/ipv6/conf/all/disable_ipv6", "1"}, {"net/ipv6/conf/default/disable_ipv6", "1"}})
      if (auto st = write_sysctl(pod, key, value); !st) return st;
    ps.netns = pod.name();
    ps.host_if = host_if_name(p);
    ps.pod_if = kPodIf;
    ps.pod_mac = pod_mac(p.ip);
    auto veth = VethPair::create(node, pod, {ps.host_if, ps.pod_if, kNodeSideMac, ps.pod_mac});
    if (!veth) return veth.error();
    veth->release();
    // Node side: up, a /32 route to the pod, a static neighbour (no ARP needed either way).
    if (auto st = set_link_up(node, veth->ifindex()); !st) return st;
    if (auto st = add_kept_route(node, {p.ip, 32, 0, veth->ifindex()}); !st) return st;
    if (auto st = add_neighbour(node, veth->ifindex(), p.ip, ps.pod_mac); !st) return st;
    // Pod side: the address, a default route via the link-local gateway that is the node.
    int eth0 = veth->peer_ifindex();
    if (auto st = set_link_up(pod, eth0); !st) return st;
    if (auto st = add_address(pod, eth0, p.ip, 32); !st) return st;
    if (auto st = add_kept_route(pod, {kPodGateway, 32, 0, eth0}); !st) return st;
    if (auto st = add_kept_route(pod, {0, 0, kPodGateway, eth0}); !st) return st;
    if (auto st = add_neighbour(pod, eth0, kPodGateway, kNodeSideMac); !st) return st;
    wait_for_[node.name()].push_back(veth->ifindex());
    wait_for_[pod.name()].push_back(eth0);
    state_.pods.push_back(std::move(ps));
    return {};
  }

  /// host-gw: every node routes each remote pod's /32 via that pod's node.
  Status route_between_nodes() {
    for (const auto& n : state_.nodes) {
      Netns& node = ns(n.netns);
      for (const auto& p : state_.pods) {
        if (p.pod.host_network || p.pod.node == n.node.name) continue;
        const LabNodeState* peer = state_.find_node(p.pod.node);
        if (auto st = add_kept_route(node, {p.pod.ip, 32, peer->node.ip, underlay_ifindex_.at(n.node.name)}); !st)
          return st;
      }
    }
    return {};
  }

  Status save() {
    std::string dir = lab_state_dir(spec_.name);
    if (auto st = mkdirs(dir); !st) return st;
    if (auto st = write_file_atomic(lab_state_path(spec_.name), lab_state_to_json(state_)); !st) {
      (void)remove_tree(dir, nullptr);
      return st;
    }
    return {};
  }

  const LabSpec& spec_;
  LabUpOptions opt_;
  LabState state_;
  std::vector<Netns> owned_;  // reserve()d: pointers handed out stay valid
  std::map<std::string, size_t> by_name_;
  std::map<std::string, int> underlay_ifindex_;
  std::map<std::string, std::set<std::string>> used_if_names_;
  std::map<std::string, std::vector<int>> wait_for_;  // per namespace: interfaces to see up
  int bridge_ifindex_ = 0;
  int created_ = 0;
};

}  // namespace

Status validate_lab_name(const std::string& lab) {
  bool ok = !lab.empty() && lab.size() <= 16 && std::all_of(lab.begin(), lab.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
  });
  if (!ok) return Error{"invalid lab name '" + lab + "': use 1 to 16 lower-case letters and digits"};
  return {};
}

std::string lab_prefix(const std::string& lab) {
  return "pl-" + lab + "-";
}
std::string lab_state_dir(const std::string& lab) {
  return std::string(kLabStateRoot) + "/" + lab;
}
std::string lab_state_path(const std::string& lab) {
  return lab_state_dir(lab) + "/lab.json";
}

Result<LabState> lab_up(const LabSpec& spec, const LabUpOptions& opt) {
  if (auto st = validate_spec(spec); !st) return st.error();
  struct stat st {};
  if (::stat(lab_state_dir(spec.name).c_str(), &st) == 0 || !list_netns(lab_prefix(spec.name)).empty())
    return Error{"lab '" + spec.name + "' already exists (or left objects behind); run `polnode lab down --name " +
                 spec.name + "` first"};
  LabBuilder b(spec, opt);
  auto r = b.run();
  if (!r) return Error{"lab '" + spec.name + "': " + r.error().message};
  return r;
}

Status lab_down(const std::string& lab, LabDownReport* report) {
  if (auto st = validate_lab_name(lab); !st) return st;
  LabDownReport local;
  LabDownReport& rep = report ? *report : local;
  std::string first_error;
  // Processes first (they would keep a namespace, and its interfaces, alive), then namespaces.
  for (const auto& name : list_netns(lab_prefix(lab))) {
    auto pids = kill_netns_processes(name);
    rep.processes_killed.insert(rep.processes_killed.end(), pids.begin(), pids.end());
  }
  for (const auto& name : list_netns(lab_prefix(lab))) {
    if (auto st = delete_netns(name); !st) {
      if (first_error.empty()) first_error = st.error().message;
      continue;
    }
    rep.netns_removed.push_back(name);
  }
  for (const auto& dir : {std::string(kBpfPinRoot) + "/" + lab, lab_state_dir(lab)})
    if (auto st = remove_tree(dir, &rep.paths_removed); !st && first_error.empty()) first_error = st.error().message;
  (void)::rmdir(kBpfPinRoot);  // both only when no other lab is left
  (void)::rmdir(kLabStateRoot);
  if (!first_error.empty()) return Error{"lab '" + lab + "' down: " + first_error};
  return {};
}

Result<ExecTarget> resolve_exec_target(const LabState& s, const std::string& name) {
  auto pod_target = [&](const LabPodState& p) { return ExecTarget{p.pod.full_name(), p.netns, &p}; };
  std::vector<const LabPodState*> hits;
  auto ambiguous = [&](const char* what) {
    std::string msg = std::string("'") + name + "' is ambiguous (" + what + "):";
    for (const auto* p : hits) msg += " " + p->pod.full_name();
    return Error{msg + "; use ns/pod"};
  };
  size_t slash = name.find('/');
  std::string ns = slash == std::string::npos ? "" : name.substr(0, slash);
  std::string rest = slash == std::string::npos ? name : name.substr(slash + 1);
  // 1. A pod by name (optionally namespace-qualified).
  for (const auto& p : s.pods)
    if (p.pod.name == rest && (ns.empty() || p.pod.ns == ns)) hits.push_back(&p);
  if (hits.size() == 1) return pod_target(*hits.front());
  if (hits.size() > 1) return ambiguous("pods in several namespaces");
  // 2. A workload: its first replica.
  std::map<std::string, const LabPodState*> first;  // per namespace
  for (const auto& p : s.pods) {
    if (p.pod.workload != rest || (!ns.empty() && p.pod.ns != ns)) continue;
    auto& f = first[p.pod.ns];
    if (!f || p.pod.replica < f->pod.replica) f = &p;
  }
  if (first.size() == 1) return pod_target(*first.begin()->second);
  if (first.size() > 1) {
    for (auto& [k, v] : first) hits.push_back(v);
    return ambiguous("workloads in several namespaces");
  }
  // 3. A node.
  if (ns.empty())
    if (const auto* n = s.find_node(name)) return ExecTarget{"node " + n->node.name, n->netns, nullptr};
  std::string msg = "no pod, workload or node named '" + name + "' in lab '" + s.name() + "' (pods:";
  for (const auto& p : s.pods) msg += " " + p.pod.full_name();
  return Error{msg + ")"};
}

Result<int> lab_exec(const LabState& s, const ExecTarget& target, const std::vector<std::string>& argv) {
  if (argv.empty()) return Error{"no command to run"};
  auto ns = Netns::open(target.netns);
  if (!ns) return ns.error();
  std::cout.flush();
  std::cerr.flush();
  pid_t pid = ::fork();
  if (pid < 0) return sys_error("fork", errno);
  if (pid == 0) {
    if (::setns(ns->fd(), CLONE_NEWNET) < 0) {
      std::fprintf(stderr, "polnode: entering %s: %s\n", target.netns.c_str(), std::strerror(errno));
      ::_exit(127);
    }
    ::setenv("POLNODE_LAB", s.name().c_str(), 1);
    if (target.pod)
      ::setenv("POLNODE_POD", target.display.c_str(), 1);
    else
      ::setenv("POLNODE_NODE", target.display.c_str() + 5, 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    std::fprintf(stderr, "polnode: running %s in %s: %s\n", args[0], target.display.c_str(), std::strerror(errno));
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return sys_error("waiting for the command", errno);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

bool LabLiveStatus::healthy() const {
  if (!underlay_ok) return false;
  for (const auto& n : nodes)
    if (!n.netns_ok || !n.underlay_ok) return false;
  for (const auto& p : pods)
    if (!p.netns_ok || !p.host_if_ok) return false;
  return true;
}

LabLiveStatus lab_live_status(const LabState& s) {
  LabLiveStatus out;
  out.underlay_ok = Netns::open(s.underlay_netns).ok();
  std::map<std::string, Netns> nodes;
  for (const auto& n : s.nodes) {
    LabLiveNode ln;
    ln.name = n.node.name;
    if (auto ns = Netns::open(n.netns)) {
      ln.netns_ok = true;
      ln.underlay_ok = link_index(*ns, n.underlay_if).ok();
      nodes.emplace(n.node.name, std::move(*ns));
    }
    out.nodes.push_back(ln);
  }
  for (const auto& p : s.pods) {
    LabLivePod lp;
    lp.name = p.pod.full_name();
    lp.netns_ok = Netns::open(p.netns).ok();
    auto it = nodes.find(p.pod.node);
    if (p.host_if.empty()) {
      lp.host_if_ok = it != nodes.end();
    } else if (it != nodes.end()) {
      if (auto idx = link_index(it->second, p.host_if)) {
        lp.host_if_ok = true;
        lp.host_ifindex = *idx;
        if (auto f = list_tc_programs(it->second, *idx)) lp.programs = std::move(*f);
      }
    }
    out.pods.push_back(std::move(lp));
  }
  return out;
}

}  // namespace polc::runtime
