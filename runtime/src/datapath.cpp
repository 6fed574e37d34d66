// `polnode apply`, `detach` and `status` (see datapath.h and docs/runtime.md).
//
// Pins, per lab (bpffs):
//   /sys/fs/bpf/polnode/<lab>/gen                  the generation word (ARRAY u32 -> u32)
//   /sys/fs/bpf/polnode/<lab>/<node>/progs         PROG_ARRAY: slots 2g, 2g+1 of generation g
//   /sys/fs/bpf/polnode/<lab>/<node>/dispatch_*    the dispatchers attached to the pod interfaces
//   /sys/fs/bpf/polnode/<lab>/<node>/polc_ct ...   state shared by every generation (conntrack,
//                                                   fragments, reason counters, flow events)
//   /sys/fs/bpf/polnode/<lab>/<node>/g0/, g1/      the maps of each generation
#include "polc/runtime/datapath.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "dispatcher.h"
#include "layout.h"
#include "libbpf_log.h"
#include "polc/backend_bpf/abi.h"
#include "polc/backend_bpf/layout_codec.h"
#include "services.h"

namespace polc::runtime {

using nlohmann::json;

namespace {

constexpr const char* kBpfRoot = "/sys/fs/bpf";
/// Maps whose contents belong to the node, not to one policy: every generation reuses them, so
/// connections, counters by reason and the flow stream survive a re-apply.
const std::set<std::string> kSharedMaps = {"polc_ct",     "polc_frags", "polc_stats",
                                           "polc_events", "polc_lb_ct", "polc_l7_stats"};
constexpr uint32_t kFilterHandle = TcAttachment::kDefaultHandle;
constexpr uint32_t kFilterPriority = TcAttachment::kDefaultPriority;

std::string node_pin_dir(const std::string& lab, const std::string& node);

/// The pin of the tcx link of a pod interface's hook.
std::string link_pin_path(const std::string& lab, const std::string& node, const std::string& host_if, bool to_pod) {
  return node_pin_dir(lab, node) + "/links/" + host_if + (to_pod ? "_to" : "_from");  // bpffs names have no dots
}

std::string node_pin_dir(const std::string& lab, const std::string& node) {
  return datapath_pin_dir(lab) + "/" + node;
}
std::string gen_dir(const std::string& lab, const std::string& node, uint32_t slot) {
  return node_pin_dir(lab, node) + "/g" + std::to_string(slot);
}
std::string state_path(const std::string& lab) {
  return lab_state_dir(lab) + "/datapath.json";
}
std::string saved_layout_path(const std::string& lab, const std::string& node, uint32_t slot) {
  return lab_state_dir(lab) + "/datapath/" + node + ".g" + std::to_string(slot) + ".layout.json";
}

bool exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

Status mkdir_p(const std::string& path) {
  for (size_t i = 1; i <= path.size(); ++i)
    if (i == path.size() || path[i] == '/') {
      std::string p = path.substr(0, i);
      if (::mkdir(p.c_str(), 0700) < 0 && errno != EEXIST) return sys_error("creating " + p, errno);
    }
  return {};
}

Status remove_tree(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) < 0) return errno == ENOENT ? Status{} : Status{sys_error("stat " + path, errno)};
  if (S_ISDIR(st.st_mode)) {
    std::vector<std::string> children;
    if (DIR* d = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (n != "." && n != "..") children.push_back(path + "/" + n);
      }
      ::closedir(d);
    }
    for (const auto& c : children)
      if (auto s = remove_tree(c); !s) return s;
    if (::rmdir(path.c_str()) < 0 && errno != ENOENT) return sys_error("removing " + path, errno);
  } else if (::unlink(path.c_str()) < 0 && errno != ENOENT) {
    return sys_error("removing " + path, errno);
  }
  return {};
}

Result<Fd> get_pinned(const std::string& path) {
  int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return sys_error("opening pinned " + path, -fd);
  return Fd(fd);
}

Status pin(int fd, const std::string& path) {
  int err = bpf_obj_pin(fd, path.c_str());
  if (err) return sys_error("pinning " + path, -err);
  return {};
}

Result<Fd> create_map(bpf_map_type type, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const char* name,
                      uint32_t flags = 0) {
  libbpf_log_begin();
  bpf_map_create_opts opts{};
  opts.sz = sizeof opts;
  opts.map_flags = flags;
  int fd = bpf_map_create(type, name, key_size, value_size, max_entries, &opts);
  if (fd < 0) return sys_error(std::string("creating map ") + name, -fd);
  return Fd(fd);
}

Status map_update(int fd, const void* key, const void* value, const std::string& what) {
  int err = bpf_map_update_elem(fd, key, value, BPF_ANY);
  if (err) return sys_error(what, -err);
  return {};
}

/// A close-on-exec duplicate of a descriptor someone else owns (libbpf's map and program fds).
Result<Fd> dup_fd(int fd) {
  int d = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (d < 0) return sys_error("duplicating a descriptor", errno);
  return Fd(d);
}

uint32_t prog_id(int fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) return 0;
  return info.id;
}

std::string now_iso8601() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Status write_file(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) return sys_error("writing " + tmp, errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) < 0) return sys_error("renaming " + tmp, errno);
  return {};
}

struct BpfObjectCloser {
  void operator()(bpf_object* o) const { bpf_object__close(o); }
};
using BpfObject = std::unique_ptr<bpf_object, BpfObjectCloser>;

// ---------------------------------------------------------------------------------------------
// Filling maps from layout.json

/// Writes `n` entries in one batch when the map supports it, one by one otherwise.
Status update_many(int fd, const LayoutMap& m, const std::vector<uint8_t>& keys, const std::vector<uint8_t>& values,
                   size_t key_size, size_t value_size, uint32_t n) {
  if (n == 0) return {};
  uint32_t count = n;
  bpf_map_batch_opts opts{};
  opts.sz = sizeof opts;
  int err = bpf_map_update_batch(fd, keys.data(), values.data(), &count, &opts);
  if (err == 0 && count == n) return {};
  if (err && err != -EINVAL && err != -ENOTSUP && err != -EOPNOTSUPP && err != -524 /* ENOTSUPP */)
    return sys_error("filling map " + m.name, -err);
  for (uint32_t i = 0; i < n; ++i)
    if (auto st = map_update(fd, keys.data() + i * key_size, values.data() + i * value_size,
                             "filling map " + m.name + " (entry " + std::to_string(i) + ")");
        !st)
      return st;
  return {};
}

Status fill_map(int fd, const LayoutMap& m) {
  if (m.fill == "runtime") return {};
  namespace codec = backend_bpf::layout;
  try {
    size_t key_size = m.key.at("size").get<size_t>();
    size_t value_size = m.value.at("size").get<size_t>();
    bool percpu = m.type.rfind("percpu", 0) == 0;
    size_t ncpu = percpu ? static_cast<size_t>(libbpf_num_possible_cpus()) : 1;
    size_t stride = percpu ? ((value_size + 7) / 8) * 8 * ncpu : value_size;
    std::vector<uint8_t> keys, values;
    uint32_t n = 0;
    auto add = [&](const uint8_t* k, const std::vector<uint8_t>& v) {
      keys.insert(keys.end(), k, k + key_size);
      size_t off = values.size();
      values.resize(off + stride, 0);
      for (size_t c = 0; c < ncpu; ++c) std::memcpy(values.data() + off + c * (stride / ncpu), v.data(), v.size());
      ++n;
    };
    if (m.entries) {
      for (const auto& e : *m.entries)
        add(codec::encode(m.key, e.at("key")).data(), codec::encode(m.value, e.at("value")));
    } else if (m.ranges) {
      if (key_size != 4) return Error{"map " + m.name + ": ranges need a u32 key"};
      size_t total = 0;
      for (const auto& r : *m.ranges) total += r.at("last").get<uint64_t>() - r.at("first").get<uint64_t>() + 1;
      if (total > m.max_entries)
        return Error{"map " + m.name + ": ranges cover " + std::to_string(total) + " slots, more than its " +
                     std::to_string(m.max_entries)};
      keys.reserve(total * 4);
      values.reserve(total * stride);
      for (const auto& r : *m.ranges) {
        auto v = codec::encode(m.value, r.at("value"));
        uint32_t first = r.at("first").get<uint32_t>(), last = r.at("last").get<uint32_t>();
        if (last < first || last >= m.max_entries)
          return Error{"map " + m.name + ": range " + std::to_string(first) + "-" + std::to_string(last) +
                       " outside 0-" + std::to_string(m.max_entries - 1)};
        for (uint64_t i = first; i <= last; ++i) {
          uint32_t k = static_cast<uint32_t>(i);
          add(reinterpret_cast<const uint8_t*>(&k), v);
        }
      }
    }
    if (n > m.max_entries)
      return Error{"map " + m.name + ": " + std::to_string(n) + " entries exceed its capacity " +
                   std::to_string(m.max_entries)};
    return update_many(fd, m, keys, values, key_size, stride, n);
  } catch (const std::exception& e) {
    return Error{"map " + m.name + ": " + e.what()};
  }
}

// ---------------------------------------------------------------------------------------------
// One node's part of an apply

/// Matches the compiled output to the lab: same nodes, and per node the same pods at the same
/// addresses. A mismatch would enforce some pod's policy on another pod.
Status check_placement(const LabState& lab, const std::vector<Layout>& layouts) {
  std::map<std::string, const Layout*> by_node;
  for (const auto& l : layouts) by_node[l.node] = &l;
  for (const auto& l : layouts)
    if (!lab.find_node(l.node))
      return Error{"the compiled output is for node '" + l.node + "', which lab '" + lab.name() + "' does not have"};
  for (const auto& n : lab.nodes) {
    std::set<std::pair<std::string, Ipv4Addr>> want, have;
    for (const auto& p : lab.pods)
      if (p.pod.node == n.node.name && !p.pod.host_network) want.insert({p.pod.full_name(), p.pod.ip});
    auto it = by_node.find(n.node.name);
    if (it == by_node.end()) {
      if (want.empty()) continue;
      return Error{"the compiled output has no object for node '" + n.node.name + "' (" + std::to_string(want.size()) +
                   " pods of lab '" + lab.name() + "' run there); compile the same inventory and node placement"};
    }
    for (const auto& e : it->second->endpoints)
      if (e.node == n.node.name && !e.host_network) have.insert({e.name, e.ip});
    if (want != have) {
      std::string diff;
      for (const auto& w : want)
        if (!have.count(w)) diff += " " + w.first + " " + ipv4_str(w.second) + " (only in the lab)";
      for (const auto& h : have)
        if (!want.count(h)) diff += " " + h.first + " " + ipv4_str(h.second) + " (only in the compiled output)";
      return Error{"node '" + n.node.name + "': the compiled output places other pods there than lab '" + lab.name() +
                   "':" + diff};
    }
  }
  return {};
}

struct NodeApply {
  const LabNodeState* node = nullptr;
  const Layout* layout = nullptr;
  Netns ns;
  Fd progs;          // PROG_ARRAY
  Fd dispatch_from;  // dispatcher programs
  Fd dispatch_to;
  BpfObject object;
  Fd prog_from, prog_to;                                 // the new generation's programs
  Fd underlay_from, underlay_to;                         // its NodePort programs (services.h)
  std::vector<std::pair<std::string, Fd>> fresh_shared;  // shared maps created (not reused) this time
  bool slots_written = false;
  std::vector<TcAttachment> new_filters;
  std::vector<Qdisc> new_qdiscs;
  std::vector<TcxLink> new_links;  // pinned; detached and unpinned again if apply fails
  std::vector<bool> new_link_to_pod;
  std::vector<TcxLink> moved_links;  // existing links, pointed at the new programs after the switch
  size_t interfaces = 0;
};

/// The prog array and the dispatchers of a node: opened from their pins, or made and pinned.
Status prepare_node(const std::string& lab, NodeApply& na, int gen_fd) {
  std::string dir = node_pin_dir(lab, na.node->node.name);
  if (auto st = mkdir_p(dir + "/links"); !st) return st;
  if (exists(dir + "/progs")) {
    auto fd = get_pinned(dir + "/progs");
    if (!fd) return fd.error();
    na.progs = std::move(*fd);
  } else {
    auto fd = create_map(BPF_MAP_TYPE_PROG_ARRAY, 4, 4, dispatch::kSlots, "polc_slots");
    if (!fd) return fd.error();
    na.progs = std::move(*fd);
  }
  for (bool to_pod : {false, true}) {
    std::string path = dir + (to_pod ? "/dispatch_to" : "/dispatch_from");
    Fd& slot = to_pod ? na.dispatch_to : na.dispatch_from;
    if (exists(path)) {
      auto fd = get_pinned(path);
      if (!fd) return fd.error();
      slot = std::move(*fd);
      continue;
    }
    auto fd = dispatch::load(to_pod, gen_fd, na.progs.get());
    if (!fd) return fd.error();
    slot = std::move(*fd);
  }
  // The "open" slots: pass everything (the state before any policy and after detach).
  for (bool to_pod : {false, true}) {
    auto pass = load_tc_verdict_program(true, to_pod ? "pl_open_to" : "pl_open_from");
    if (!pass) return pass.error();
    uint32_t k = dispatch::slot(dispatch::kOpen, to_pod);
    int v = pass->get();
    if (auto st = map_update(na.progs.get(), &k, &v, "setting the open slot"); !st) return st;
  }
  // Pin last: a pinned prog array always has its dispatchers and open slots.
  for (auto [fd, name] : {std::pair{na.dispatch_from.get(), "/dispatch_from"},
                          {na.dispatch_to.get(), "/dispatch_to"},
                          {na.progs.get(), "/progs"}})
    if (!exists(dir + name))
      if (auto st = pin(fd, dir + name); !st) return st;
  return {};
}

/// Loads the compiled object into generation `slot` of the node: maps filled and pinned,
/// programs ready. Nothing is visible to packets yet.
Status load_generation(const LabState& lab, NodeApply& na, uint32_t slot, int gen_fd, uint32_t word) {
  const Layout& l = *na.layout;
  const std::string node = na.node->node.name;
  std::string gdir = gen_dir(lab.name(), node, slot);
  if (auto st = remove_tree(gdir); !st) return st;  // the generation before last
  if (auto st = mkdir_p(gdir); !st) return st;

  libbpf_log_begin();
  bpf_object_open_opts oo{};
  oo.sz = sizeof oo;
  bpf_object* raw = bpf_object__open_file(l.object_path.c_str(), &oo);
  if (!raw) {
    int err = errno;
    std::string log = libbpf_log_take();
    return sys_error("opening " + l.object_path + (log.empty() ? "" : " (" + log + ")"), err);
  }
  na.object.reset(raw);

  // Shared maps: reuse the node's pinned ones when they are compatible.
  std::string ndir = node_pin_dir(lab.name(), node);
  std::set<std::string> reused;
  bpf_map* map;
  bpf_object__for_each_map(map, na.object.get()) {
    std::string name = bpf_map__name(map);
    if (!kSharedMaps.count(name) || !exists(ndir + "/" + name)) continue;
    auto fd = get_pinned(ndir + "/" + name);
    if (!fd) return fd.error();
    bpf_map_info info{};
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd->get(), &info, &len) != 0) return sys_error("inspecting " + name, errno);
    if (info.type != bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
        info.value_size != bpf_map__value_size(map) || info.max_entries != bpf_map__max_entries(map) ||
        info.map_flags != bpf_map__map_flags(map))
      continue;  // a new shape: this generation gets a fresh map (pinned at the switch)
    if (int err = bpf_map__reuse_fd(map, fd->get()); err) return sys_error("reusing the node's " + name, -err);
    reused.insert(name);
  }

  // The generation word and the node's program slots are the runtime's own (abi.h,
  // "Generations"): the programs defer to the generation the word names.
  for (auto [name, fd] : {std::pair{"polc_generation", gen_fd}, {"polc_slots", na.progs.get()}}) {
    bpf_map* m = bpf_object__find_map_by_name(na.object.get(), name);
    if (!m) return Error{l.object_path + " has no map " + name + " (compiled by an older polc?)"};
    if (int err = bpf_map__reuse_fd(m, fd); err) return sys_error(std::string("reusing the node's ") + name, -err);
    reused.insert(name);
  }

  libbpf_log_begin();
  if (int err = bpf_object__load(na.object.get()); err) {
    std::string log = libbpf_log_take();
    if (log.size() > 2000) log = "..." + log.substr(log.size() - 2000);
    return sys_error("loading " + l.object_path + " into the kernel" + (log.empty() ? "" : " (" + log + ")"), -err);
  }

  // Every map the layout describes must exist in the object, with the layout's shape.
  for (const auto& m : l.maps) {
    bpf_map* bm = bpf_object__find_map_by_name(na.object.get(), m.name.c_str());
    if (!bm) return Error{l.object_path + " has no map " + m.name + " (layout.json describes it)"};
    if (m.fill != "runtime" &&
        (bpf_map__key_size(bm) != m.key.at("size").get<uint32_t>() ||
         bpf_map__value_size(bm) != m.value.at("size").get<uint32_t>() || bpf_map__max_entries(bm) != m.max_entries))
      return Error{"map " + m.name + " in " + l.object_path + " does not have the shape layout.json gives it"};
    if (auto st = fill_map(bpf_map__fd(bm), m); !st) return st;
  }
  if (bpf_map* cm = bpf_object__find_map_by_name(na.object.get(), "polc_config")) {
    uint32_t k = 0;
    polc_config cfg{};
    if (bpf_map_lookup_elem(bpf_map__fd(cm), &k, &cfg) != 0) return sys_error("reading polc_config", errno);
    cfg.generation = word;
    if (auto st = map_update(bpf_map__fd(cm), &k, &cfg, "naming the generation in polc_config"); !st) return st;
  }

  // Bind each local pod to its interface (the datapath's anti-spoofing check).
  if (bpf_map* ep = bpf_object__find_map_by_name(na.object.get(), "polc_endpoints")) {
    for (const auto& p : lab.pods) {
      if (p.pod.node != node || p.host_if.empty()) continue;
      auto idx = link_index(na.ns, p.host_if);
      if (!idx) return idx.error();
      polc_ip_key key{htonl(p.pod.ip)};
      polc_endpoint val{};
      if (bpf_map_lookup_elem(bpf_map__fd(ep), &key, &val) != 0)
        return Error{"the compiled output has no endpoint entry for " + p.pod.full_name()};
      val.ifindex = static_cast<polc_u32>(*idx);
      if (auto st = map_update(bpf_map__fd(ep), &key, &val, "binding " + p.pod.full_name() + " to its interface"); !st)
        return st;
    }
  }

  bpf_object__for_each_map(map, na.object.get()) {
    std::string name = bpf_map__name(map);
    if (bpf_map__is_internal(map) || reused.count(name)) continue;
    if (kSharedMaps.count(name)) {  // pinned for the node at the switch
      auto dup = dup_fd(bpf_map__fd(map));
      if (!dup) return dup.error();
      na.fresh_shared.emplace_back(name, std::move(*dup));
      continue;
    }
    if (auto st = pin(bpf_map__fd(map), gdir + "/" + name); !st) return st;
  }

  for (const auto& p : l.programs) {
    bpf_program* prog = bpf_object__find_program_by_name(na.object.get(), p.name.c_str());
    if (!prog) return Error{l.object_path + " has no program " + p.name + " (layout.json describes it)"};
    auto fd = dup_fd(bpf_program__fd(prog));
    if (!fd) return fd.error();
    if (p.target == "underlay")
      (p.hook_direction == "ingress" ? na.underlay_from : na.underlay_to) = std::move(*fd);
    else if (p.hook_direction == "ingress")
      na.prog_from = std::move(*fd);
    else
      na.prog_to = std::move(*fd);
  }
  if (!na.prog_from.valid() || !na.prog_to.valid())
    return Error{l.object_path + ": layout.json must name one program for tc ingress and one for tc egress"};
  return {};
}

}  // namespace

std::string datapath_pin_dir(const std::string& lab) {
  return std::string(kBpfRoot) + "/polnode/" + lab;
}

// ---------------------------------------------------------------------------------------------
// State file

namespace {

std::string state_to_json(const DatapathState& s) {
  json j;
  j["lab"] = s.lab;
  j["active"] = s.active;
  j["generation"] = s.generation;
  j["out_dir"] = s.out_dir;
  j["applied_at"] = s.applied_at;
  j["nodes"] = json::array();
  for (const auto& n : s.nodes)
    j["nodes"].push_back({{"node", n.node},
                          {"slot", n.slot},
                          {"epoch", n.epoch},
                          {"object", n.object},
                          {"layout", n.layout},
                          {"prog_from_pod", n.prog_from_pod},
                          {"prog_to_pod", n.prog_to_pod}});
  return j.dump(2) + "\n";
}

}  // namespace

Result<DatapathState> load_datapath_state(const std::string& lab) {
  std::ifstream in(state_path(lab));
  if (!in) return Error{"no policy is applied to lab '" + lab + "' (polnode apply OUT)"};
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    json j = json::parse(ss.str());
    DatapathState s;
    s.lab = j.at("lab").get<std::string>();
    s.active = j.at("active").get<uint32_t>();
    s.generation = j.at("generation").get<uint64_t>();
    s.out_dir = j.at("out_dir").get<std::string>();
    s.applied_at = j.at("applied_at").get<std::string>();
    for (const auto& n : j.at("nodes"))
      s.nodes.push_back({n.at("node").get<std::string>(), n.at("slot").get<uint32_t>(), n.at("epoch").get<uint32_t>(),
                         n.at("object").get<std::string>(), n.at("layout").get<std::string>(),
                         n.at("prog_from_pod").get<uint32_t>(), n.at("prog_to_pod").get<uint32_t>()});
    return s;
  } catch (const std::exception& e) {
    return Error{state_path(lab) + ": malformed (" + e.what() + ")"};
  }
}

// ---------------------------------------------------------------------------------------------
// apply

Result<ApplyReport> datapath_apply(const LabState& lab, const std::string& out_dir) {
  auto t0 = std::chrono::steady_clock::now();
  auto layouts = load_compiled_output(out_dir);
  if (!layouts) return layouts.error();
  if (auto st = check_placement(lab, *layouts); !st) return st.error();
  if (auto st = ensure_bpffs(); !st) return st.error();
  std::string root = datapath_pin_dir(lab.name());

  std::vector<NodeApply> nodes;
  nodes.reserve(lab.nodes.size());
  for (const auto& n : lab.nodes) {
    const Layout* l = nullptr;
    for (const auto& x : *layouts)
      if (x.node == n.node.name) l = &x;
    if (!l) continue;  // a node without pods and without an object
    NodeApply na;
    na.node = &n;
    na.layout = l;
    auto ns = Netns::open(n.netns);
    if (!ns) return ns.error();
    na.ns = std::move(*ns);
    nodes.push_back(std::move(na));
  }

  // Any failure from here on undoes this apply: the new generation's slots and pins (or, for a
  // first apply, every pin), then (destructors of `nodes`) the filters and qdiscs it attached.
  // The active generation is never touched.
  struct Rollback {
    std::vector<NodeApply>* nodes;
    std::string root;
    const std::string* lab;
    uint32_t slot = 0;
    bool first = false;
    bool armed = true;
    ~Rollback() {
      if (!armed) return;
      if (first) {
        (void)remove_tree(root);
        return;
      }
      for (auto& na : *nodes) {
        if (na.slots_written && na.progs.valid())
          for (bool to_pod : {false, true}) {
            uint32_t k = dispatch::slot(slot, to_pod);
            (void)bpf_map_delete_elem(na.progs.get(), &k);
          }
        (void)remove_tree(gen_dir(*lab, na.node->node.name, slot));
      }
    }
  } rollback{&nodes, root, &lab.spec.name};

  // The generation word (created "open": no policy).
  Fd gen;
  if (exists(root + "/gen")) {
    auto fd = get_pinned(root + "/gen");
    if (!fd) return fd.error();
    gen = std::move(*fd);
  } else {
    rollback.first = true;
    if (auto st = mkdir_p(root); !st) return st.error();
    auto fd =
        create_map(BPF_MAP_TYPE_ARRAY, 4, 4, 1, "polc_generation");  // the name the object uses (reuse_fd renames)
    if (!fd) return fd.error();
    gen = std::move(*fd);
    uint32_t k = 0, v = dispatch::kOpen;
    if (auto st = map_update(gen.get(), &k, &v, "initializing the generation word"); !st) return st.error();
    if (auto st = pin(gen.get(), root + "/gen"); !st) return st.error();
  }
  uint32_t key0 = 0, word = dispatch::kOpen;
  if (bpf_map_lookup_elem(gen.get(), &key0, &word) != 0) return sys_error("reading the generation word", errno);
  uint32_t next = dispatch::slot_of(word) == 0 ? 1 : 0;
  uint32_t next_word = dispatch::next_word(word, next);
  rollback.slot = next;

  for (auto& na : nodes) {
    if (auto st = prepare_node(lab.name(), na, gen.get()); !st)
      return Error{"node " + na.node->node.name + ": " + st.error().message};
    if (auto st = load_generation(lab, na, next, gen.get(), next_word); !st)
      return Error{"node " + na.node->node.name + ": " + st.error().message};
  }
  for (auto& na : nodes) {
    for (bool to_pod : {false, true}) {
      uint32_t k = dispatch::slot(next, to_pod);
      int v = to_pod ? na.prog_to.get() : na.prog_from.get();
      na.slots_written = true;
      if (auto st = map_update(na.progs.get(), &k, &v, "installing the new programs"); !st)
        return Error{"node " + na.node->node.name + ": " + st.error().message};
    }
  }

  // Dispatchers on every pod interface (attaching changes nothing: they run the active generation).
  // tcx links where the kernel has them (Linux 6.6), else clsact filters.
  ApplyReport rep;
  const bool tcx = TcxLink::supported() && getenv("POLNODE_NO_TCX") == nullptr;
  for (auto& na : nodes) {
    uint32_t from_id = prog_id(na.dispatch_from.get()), to_id = prog_id(na.dispatch_to.get());
    for (const auto& p : lab.pods) {
      if (p.pod.node != na.node->node.name || p.host_if.empty()) continue;
      auto idx = link_index(na.ns, p.host_if);
      if (!idx) return idx.error();
      if (tcx) {
        // tcx links, pinned per interface and direction, run the compiled programs directly (no
        // dispatcher on the path): every program defers to the generation the word names, so
        // a link may point at any generation's program. A missing link (or one whose interface
        // was recreated) is made now, on the new program, which defers to the active one until
        // the switch; existing links move to the new programs right after it.
        for (bool to_pod : {false, true}) {
          TcDirection dir = to_pod ? TcDirection::Egress : TcDirection::Ingress;
          std::string path = link_pin_path(lab.name(), na.node->node.name, p.host_if, to_pod);
          if (exists(path)) {
            auto l = TcxLink::open_pinned(path);
            if (l && l->attached()) {
              na.moved_links.push_back(std::move(*l));
              continue;
            }
            (void)::unlink(path.c_str());  // its interface went away
          }
          auto l = TcxLink::attach(na.ns, *idx, dir, to_pod ? na.prog_to.get() : na.prog_from.get());
          if (!l) return Error{p.pod.full_name() + ": " + l.error().message};
          if (auto st = l->pin(path); !st) return Error{p.pod.full_name() + ": " + st.error().message};
          na.new_links.push_back(std::move(*l));
          na.new_link_to_pod.push_back(to_pod);
          ++rep.attached_now;
        }
        ++na.interfaces;
        continue;
      }
      auto filters = list_tc_filters(na.ns, *idx);
      if (!filters) return filters.error();
      {
        auto q = Qdisc::create_clsact(na.ns, *idx);
        if (!q) return q.error();
        if (q->owned()) na.new_qdiscs.push_back(std::move(*q));
      }
      for (bool to_pod : {false, true}) {
        TcDirection dir = to_pod ? TcDirection::Egress : TcDirection::Ingress;
        uint32_t want = to_pod ? to_id : from_id;
        const TcFilterInfo* cur = nullptr;
        for (const auto& f : *filters)
          if (f.dir == dir && f.handle == kFilterHandle && f.priority == kFilterPriority) cur = &f;
        if (cur && cur->prog_id == want) continue;
        if (cur) {  // something else sits at our handle: replace it with the dispatcher
          auto t = TcAttachment::adopt(na.ns, *idx, dir, kFilterHandle, kFilterPriority);
          if (!t) return t.error();
          auto st = t->replace(to_pod ? na.dispatch_to.get() : na.dispatch_from.get());
          t->release();
          if (!st) return st.error();
          continue;
        }
        auto t = TcAttachment::attach(na.ns, *idx, dir, to_pod ? na.dispatch_to.get() : na.dispatch_from.get(),
                                      kFilterHandle, kFilterPriority);
        if (!t) return Error{p.pod.full_name() + ": " + t.error().message};
        na.new_filters.push_back(std::move(*t));
        ++rep.attached_now;
      }
      ++na.interfaces;
    }
    rep.interfaces += na.interfaces;
  }

  // The switch: one write, every hook of every node.
  if (auto st = map_update(gen.get(), &key0, &next_word, "switching to the new generation"); !st) return st.error();
  rollback.armed = false;
  // Existing links to the new programs (each update atomic; until then the old program passes
  // every packet on to the new generation through its slot).
  std::string link_errors;
  for (auto& na : nodes)
    for (auto& l : na.moved_links) {
      bool to_pod = l.direction() == TcDirection::Egress;
      if (auto st = l.update(to_pod ? na.prog_to.get() : na.prog_from.get()); !st && link_errors.empty())
        link_errors = "node " + na.node->node.name + ": " + st.error().message;
    }
  rep.millis = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  // After the switch: keep what was attached, pin fresh shared maps, record the state.
  DatapathState prev;
  if (auto p = load_datapath_state(lab.name())) prev = std::move(*p);
  DatapathState s;
  s.lab = lab.name();
  s.active = next;
  s.generation = prev.generation + 1;
  s.out_dir = out_dir;
  s.applied_at = now_iso8601();
  std::string errors = link_errors.empty() ? "" : " " + link_errors;
  (void)mkdir_p(lab_state_dir(lab.name()) + "/datapath");
  for (auto& na : nodes) {
    for (auto& t : na.new_filters) t.release();
    for (auto& q : na.new_qdiscs) q.release();
    for (auto& l : na.new_links) l.release();
    if (na.underlay_from.valid() && na.underlay_to.valid())
      if (auto st =
              services::attach_underlay(na.ns, na.node->underlay_if, na.underlay_from.get(), na.underlay_to.get());
          !st)
        errors += " NodePort programs of node " + na.node->node.name + ": " + st.error().message;
    std::string ndir = node_pin_dir(lab.name(), na.node->node.name);
    for (auto& [name, fd] : na.fresh_shared) {
      (void)::unlink((ndir + "/" + name).c_str());
      if (auto st = pin(fd.get(), ndir + "/" + name); !st) errors += " " + st.error().message;
    }
    std::string saved = saved_layout_path(lab.name(), na.node->node.name, next);
    std::ifstream src(na.layout->dir + "/layout.json");
    std::stringstream ss;
    ss << src.rdbuf();
    if (auto st = write_file(saved, ss.str()); !st) errors += " " + st.error().message;
    s.nodes.push_back({na.node->node.name, next, na.layout->epoch, na.layout->object_path, saved,
                       prog_id(na.prog_from.get()), prog_id(na.prog_to.get())});
    rep.nodes.push_back(na.node->node.name);
  }
  if (auto st = write_file(state_path(lab.name()), state_to_json(s)); !st) errors += " " + st.error().message;
  rep.generation = s.generation;
  if (!errors.empty()) return Error{"the new policy is in force, but recording it failed:" + errors};
  return rep;
}

// ---------------------------------------------------------------------------------------------
// detach

Status datapath_detach(const LabState& lab) {
  std::string root = datapath_pin_dir(lab.name());
  std::string first_error;
  auto note = [&](const Status& st) {
    if (!st && first_error.empty()) first_error = st.error().message;
  };
  // 1. Everything passes (the state before any policy) ...
  if (exists(root + "/gen")) {
    if (auto gen = get_pinned(root + "/gen")) {
      uint32_t k = 0, v = dispatch::kOpen;
      note(map_update(gen->get(), &k, &v, "switching to no policy"));
    }
  }
  // 2. ... then the dispatchers and qdiscs come off every pod interface.
  for (const auto& n : lab.nodes) {
    auto ns = Netns::open(n.netns);
    if (!ns) continue;  // lab already (partly) down: nothing attached there
    for (const auto& p : lab.pods) {
      if (p.pod.node != n.node.name || p.host_if.empty()) continue;
      auto idx = link_index(*ns, p.host_if);
      if (!idx) continue;
      for (bool to_pod : {false, true}) {
        std::string path = link_pin_path(lab.name(), n.node.name, p.host_if, to_pod);
        if (!exists(path)) continue;
        if (auto l = TcxLink::open_pinned(path)) note(l->detach());
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) note(sys_error("removing " + path, errno));
      }
      auto filters = list_tc_filters(*ns, *idx);
      if (!filters) {
        note(filters.error());
        continue;
      }
      bool others = false;
      for (const auto& f : *filters) {
        bool ours = f.handle == kFilterHandle && f.priority == kFilterPriority &&
                    (f.prog_name.find(dispatch::kFromPodName) != std::string::npos ||
                     f.prog_name.find(dispatch::kToPodName) != std::string::npos);
        if (!ours) {
          others = true;
          continue;
        }
        auto t = TcAttachment::adopt(*ns, *idx, f.dir, f.handle, f.priority);
        if (t) note(t->remove());
      }
      if (!others)
        if (auto q = Qdisc::adopt_clsact(*ns, *idx)) note(q->remove());
    }
    note(services::detach_underlay(*ns, n.underlay_if));
  }
  // 3. Unpin: the programs and maps go away with their last reference.
  note(remove_tree(root));
  (void)::rmdir((std::string(kBpfRoot) + "/polnode").c_str());
  note(remove_tree(state_path(lab.name())));
  note(remove_tree(lab_state_dir(lab.name()) + "/datapath"));
  if (!first_error.empty()) return Error{"detach: " + first_error};
  return {};
}

// ---------------------------------------------------------------------------------------------
// status

const char* reason_name(uint32_t reason) {
  switch (reason) {
    case POLC_REASON_POLICY_DEFAULT_ALLOW: return "policy-default-allow";
    case POLC_REASON_POLICY_DEFAULT_DENY: return "policy-default-deny";
    case POLC_REASON_POLICY_ALLOW: return "policy-allow";
    case POLC_REASON_POLICY_ALLOW_L7: return "policy-allow-l7";
    case POLC_REASON_POLICY_DENY: return "policy-deny";
    case POLC_REASON_CT_ESTABLISHED: return "ct-established";
    case POLC_REASON_CT_REPLY: return "ct-reply";
    case POLC_REASON_CT_RELATED: return "ct-related";
    case POLC_REASON_CT_REVOKED: return "ct-revoked";
    case POLC_REASON_SELF: return "self";
    case POLC_REASON_FROM_OWN_NODE: return "from-own-node";
    case POLC_REASON_NOT_IP: return "not-ip";
    case POLC_REASON_IPV6: return "ipv6";
    case POLC_REASON_VLAN: return "vlan";
    case POLC_REASON_MALFORMED: return "malformed";
    case POLC_REASON_FRAGMENT: return "fragment";
    case POLC_REASON_UNKNOWN_ENDPOINT: return "unknown-endpoint";
    case POLC_REASON_SPOOFED: return "spoofed";
    case POLC_REASON_NO_CLASS: return "no-class";
    case POLC_REASON_NO_FUNCTION: return "no-function";
    case POLC_REASON_EVENT_LOST: return "event-lost";
    case POLC_REASON_L7_DENIED: return "l7-denied";
    default: return "unknown";
  }
}

namespace {

const char* l7_reason_name(uint32_t r) {
  switch (r) {
    case POLC_L7_ALLOWED: return "allowed";
    case POLC_L7_DENIED: return "denied";
    case POLC_L7_INCOMPLETE: return "incomplete";
    case POLC_L7_PIPELINED: return "pipelined";
    case POLC_L7_HTTP2: return "http2";
    case POLC_L7_BAD_PATH: return "bad-path";
    case POLC_L7_BAD_METHOD: return "bad-method";
    case POLC_L7_MALFORMED: return "malformed";
    case POLC_L7_UNTRACKED_BODY: return "untracked-body";
    case POLC_L7_OUT_OF_WINDOW: return "out-of-window";
    case POLC_L7_AFTER_DENY: return "after-deny";
    case POLC_L7_RESPONSES: return "responses-sent";
    default: return "unknown";
  }
}

bool reason_drops(uint32_t r) {
  switch (r) {
    case POLC_REASON_POLICY_DEFAULT_DENY:
    case POLC_REASON_POLICY_DENY:
    case POLC_REASON_CT_REVOKED:
    case POLC_REASON_IPV6:
    case POLC_REASON_VLAN:
    case POLC_REASON_L7_DENIED:
    case POLC_REASON_MALFORMED:
    case POLC_REASON_FRAGMENT:
    case POLC_REASON_UNKNOWN_ENDPOINT:
    case POLC_REASON_SPOOFED:
    case POLC_REASON_NO_CLASS:
    case POLC_REASON_NO_FUNCTION: return true;
    default: return false;
  }
}

/// Sums a per-CPU polc_counter.
Result<polc_counter> read_counter(int fd, uint32_t key) {
  size_t ncpu = static_cast<size_t>(libbpf_num_possible_cpus());
  std::vector<polc_counter> per(ncpu);
  if (bpf_map_lookup_elem(fd, &key, per.data()) != 0) return sys_error("reading counter " + std::to_string(key), errno);
  polc_counter sum{};
  for (const auto& c : per) {
    sum.packets += c.packets;
    sum.bytes += c.bytes;
  }
  return sum;
}

}  // namespace

Result<std::vector<NodeDatapathStatus>> datapath_status(const LabState& lab) {
  auto s = load_datapath_state(lab.name());
  if (!s) return s.error();
  std::vector<NodeDatapathStatus> out;
  for (const auto& n : s->nodes) {
    NodeDatapathStatus ns;
    ns.dp = n;
    auto layout = load_layout(n.layout, /*check_object=*/false);
    if (!layout) return layout.error();
    std::string ndir = node_pin_dir(lab.name(), n.node);
    auto counters = get_pinned(gen_dir(lab.name(), n.node, n.slot) + "/polc_rule_counters");
    if (!counters) return counters.error();
    try {
      const json& tables = layout->doc.at("tables");
      for (const auto& r : tables.at("rules"))
        ns.rules.push_back({r.at("id").get<uint32_t>(), r.value("policy", ""), r.value("path", ""),
                            r.value("origin", ""), r.value("summary", ""), 0, 0});
      uint32_t set_id = 0;
      for (const auto& set : tables.at("rule_sets")) {
        auto c = read_counter(counters->get(), set_id);
        ++set_id;
        if (!c) return c.error();
        for (const auto& rid : set) {
          uint32_t id = rid.get<uint32_t>();
          if (id < ns.rules.size()) {
            ns.rules[id].packets += c->packets;
            ns.rules[id].bytes += c->bytes;
          }
        }
      }
    } catch (const std::exception& e) {
      return Error{n.layout + ": malformed tables (" + e.what() + ")"};
    }
    auto stats = get_pinned(ndir + "/polc_stats");
    if (!stats) return stats.error();
    for (uint32_t r = 0; r < POLC_REASONS; ++r) {
      auto c = read_counter(stats->get(), r);
      if (!c) return c.error();
      ns.reasons.push_back({reason_name(r), reason_drops(r), c->packets, c->bytes});
    }
    // HTTP enforcement (objects compiled with HTTP rules): why requests passed or were refused.
    if (exists(ndir + "/polc_l7_stats")) {
      auto l7 = get_pinned(ndir + "/polc_l7_stats");
      if (!l7) return l7.error();
      for (uint32_t r = 0; r < POLC_L7_REASONS; ++r) {
        auto c = read_counter(l7->get(), r);
        if (!c) return c.error();
        ns.reasons.push_back({std::string("http-") + l7_reason_name(r), r != POLC_L7_ALLOWED && r != POLC_L7_RESPONSES,
                              c->packets, c->bytes});
      }
    }
    out.push_back(std::move(ns));
  }
  return out;
}

}  // namespace polc::runtime
