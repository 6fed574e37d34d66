// `polnode lab up|down|status|exec|list`: a local cluster of network namespaces.
#include <fmt/format.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "inventory.h"
#include "polc/runtime/lab.h"

namespace polc::polnode {

namespace {

struct LabOptions {
  std::string name;
  std::vector<std::string> paths;
  int nodes = 0;
  bool all = false;
  std::string format = "text";
  std::string target;
  std::vector<std::string> command;
};

int fail(const std::string& msg, int code = kFailed) {
  std::cerr << "polnode: " << msg << "\n";
  return code;
}

std::string proto_name(uint8_t p) {
  switch (p) {
    case 6: return "TCP";
    case 17: return "UDP";
    case 132: return "SCTP";
    default: return std::to_string(p);
  }
}

std::string programs_str(const std::vector<runtime::TcFilterInfo>& progs) {
  if (progs.empty()) return "-";
  std::string s;
  for (const auto& p : progs) {
    if (!s.empty()) s += " ";
    s += fmt::format("{}:{}#{}", runtime::tc_direction_name(p.dir), p.prog_name.empty() ? "?" : p.prog_name, p.prog_id);
  }
  return s;
}

/// Prints rows as left-aligned columns.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w;
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (w.size() <= i) w.push_back(0);
      w[i] = std::max(w[i], r[i].size());
    }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) line += i + 1 < r.size() ? fmt::format("{:<{}}  ", r[i], w[i]) : r[i];
    std::cout << line << "\n";
  }
}

int run_up(const LabOptions& o) {
  if (auto st = runtime::validate_lab_name(o.name); !st) return fail(st.error().message, kUsage);
  std::string source;
  for (const auto& p : o.paths) source += (source.empty() ? "" : " ") + p;
  auto spec = load_lab_spec(o.paths, {o.name, source, o.nodes});
  if (!spec) return fail(spec.error().message, kUsage);
  runtime::LabUpOptions uo;
  // Test hooks (see LabUpOptions); undocumented on purpose.
  if (const char* v = std::getenv("POLNODE_TEST_FAIL_AFTER_NETNS")) uo.fail_after_netns = std::atoi(v);
  if (const char* v = std::getenv("POLNODE_TEST_CRASH_AFTER_NETNS")) uo.crash_after_netns = std::atoi(v);
  auto state = runtime::lab_up(*spec, uo);
  if (!state) return fail(state.error().message);
  auto n = [](size_t k, const char* what) { return fmt::format("{} {}{}", k, what, k == 1 ? "" : "s"); };
  std::cout << fmt::format("lab {} is up: {}, {}, {} (state {})\n", o.name, n(state->nodes.size(), "node"),
                           n(state->pods.size(), "pod"), n(state->spec.services.size(), "service"),
                           runtime::lab_state_path(o.name));
  return kOk;
}

int run_down(const LabOptions& o) {
  std::vector<std::string> labs;
  if (o.all) {
    labs = runtime::list_labs();
  } else {
    auto lab = pick_lab(o.name);
    if (!lab) {
      if (o.name.empty() && runtime::list_labs().empty()) {
        std::cout << "no lab to remove\n";
        return kOk;
      }
      return fail(lab.error().message, kUsage);
    }
    labs.push_back(*lab);
  }
  int rc = kOk;
  for (const auto& lab : labs) {
    runtime::LabDownReport rep;
    if (auto st = runtime::lab_down(lab, &rep); !st) {
      rc = fail(st.error().message);
      continue;
    }
    std::cout << fmt::format("lab {} is down: removed {} namespaces", lab, rep.netns_removed.size());
    if (!rep.processes_killed.empty()) std::cout << fmt::format(", killed {} processes", rep.processes_killed.size());
    std::cout << "\n";
  }
  return rc;
}

int run_status(const LabOptions& o) {
  auto lab = pick_lab(o.name);
  if (!lab) return fail(lab.error().message, kUsage);
  auto s = runtime::load_lab_state(*lab);
  if (!s) return fail(s.error().message);
  auto live = runtime::lab_live_status(*s);
  if (o.format == "json") {
    nlohmann::json j;
    j["state"] = nlohmann::json::parse(runtime::lab_state_to_json(*s));
    j["healthy"] = live.healthy();
    j["live"]["underlay_ok"] = live.underlay_ok;
    for (const auto& n : live.nodes)
      j["live"]["nodes"].push_back({{"name", n.name}, {"netns_ok", n.netns_ok}, {"underlay_ok", n.underlay_ok}});
    for (const auto& p : live.pods) {
      nlohmann::json progs = nlohmann::json::array();
      for (const auto& f : p.programs)
        progs.push_back({{"direction", runtime::tc_direction_name(f.dir)},
                         {"name", f.prog_name},
                         {"id", f.prog_id},
                         {"handle", f.handle},
                         {"priority", f.priority}});
      j["live"]["pods"].push_back({{"name", p.name},
                                   {"netns_ok", p.netns_ok},
                                   {"host_if_ok", p.host_if_ok},
                                   {"host_ifindex", p.host_ifindex},
                                   {"programs", progs}});
    }
    std::cout << j.dump(2) << "\n";
    return live.healthy() ? kOk : kFailed;
  }
  auto ok = [](bool b) { return std::string(b ? "ok" : "MISSING"); };
  std::cout << fmt::format("lab {}  ({}; state {})\n", s->name(), s->spec.source.empty() ? "?" : s->spec.source,
                           runtime::lab_state_path(s->name()));
  uint32_t mask = ~0u << (32 - s->spec.underlay_prefix);
  std::cout << fmt::format("underlay {} bridge {} {}/{} {}\n\n", s->underlay_netns, s->underlay_bridge,
                           runtime::ipv4_str(s->nodes.empty() ? 0 : s->nodes.front().node.ip & mask),
                           s->spec.underlay_prefix, ok(live.underlay_ok));
  std::vector<std::vector<std::string>> rows{{"NODE", "IP", "NETNS", "STATE"}};
  for (size_t i = 0; i < s->nodes.size(); ++i) {
    const auto& n = s->nodes[i];
    rows.push_back(
        {n.node.name, runtime::ipv4_str(n.node.ip), n.netns, ok(live.nodes[i].netns_ok && live.nodes[i].underlay_ok)});
  }
  print_table(rows);
  std::cout << "\n";
  rows = {{"POD", "IP", "NODE", "NETNS", "IFACE", "STATE", "PROGRAMS"}};
  for (size_t i = 0; i < s->pods.size(); ++i) {
    const auto& p = s->pods[i];
    const auto& l = live.pods[i];
    rows.push_back({p.pod.full_name(), runtime::ipv4_str(p.pod.ip) + (p.pod.host_network ? " (host)" : ""), p.pod.node,
                    p.netns, p.host_if.empty() ? "-" : p.host_if, ok(l.netns_ok && l.host_if_ok),
                    programs_str(l.programs)});
  }
  print_table(rows);
  if (!s->spec.services.empty()) {
    std::cout << "\n";
    rows = {{"SERVICE", "TYPE", "CLUSTER-IP", "PORT", "BACKENDS"}};
    for (const auto& svc : s->spec.services)
      for (const auto& sp : svc.ports) {
        std::string be;
        for (const auto& b : sp.backends) {
          if (!be.empty()) be += ", ";
          be += fmt::format("{}:{}", b.pod, b.target_port);
          if (b.weight != 1) be += fmt::format(" w{}", b.weight);
        }
        std::string port = fmt::format("{}/{}", sp.port, proto_name(sp.proto));
        if (sp.node_port) port += fmt::format(" node:{}", sp.node_port);
        rows.push_back({svc.ns + "/" + svc.name, svc.type, svc.cluster_ip ? runtime::ipv4_str(*svc.cluster_ip) : "None",
                        port, be.empty() ? "-" : be});
      }
    print_table(rows);
  }
  return live.healthy() ? kOk : kFailed;
}

int run_exec(const LabOptions& o) {
  auto lab = pick_lab(o.name);
  if (!lab) return fail(lab.error().message, kUsage);
  auto s = runtime::load_lab_state(*lab);
  if (!s) return fail(s.error().message);
  auto target = runtime::resolve_exec_target(*s, o.target);
  if (!target) return fail(target.error().message, kUsage);
  auto rc = runtime::lab_exec(*s, *target, o.command);
  if (!rc) return fail(rc.error().message);
  return *rc;
}

int run_list() {
  for (const auto& lab : runtime::list_labs()) {
    auto s = runtime::load_lab_state(lab);
    if (s)
      std::cout << fmt::format("{}  {} nodes, {} pods  {}\n", lab, s->nodes.size(), s->pods.size(), s->spec.source);
    else
      std::cout << fmt::format("{}  (no state: leftovers; run polnode lab down --name {})\n", lab, lab);
  }
  return kOk;
}

}  // namespace

runtime::Result<std::string> pick_lab(const std::string& name) {
  if (!name.empty()) {
    if (auto st = runtime::validate_lab_name(name); !st) return st.error();
    return name;
  }
  auto labs = runtime::list_labs();
  if (labs.size() == 1) return labs.front();
  if (labs.empty()) return runtime::Error{"no lab is up (polnode lab up DIR)"};
  std::string msg = "several labs are up, pick one with --name:";
  for (const auto& l : labs) msg += " " + l;
  return runtime::Error{msg};
}

void register_lab(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<LabOptions>();
  auto* lab = app.add_subcommand("lab", "a local cluster made of network namespaces (nodes, pods, an underlay)");
  lab->require_subcommand(1);

  auto* up = lab->add_subcommand("up", "build the lab from an inventory (pods, nodes, services)");
  up->add_option("paths", o->paths, "inventory files or directories (as for polc)")->required();
  o->name = "lab";
  up->add_option("--name", o->name, "lab name: 1 to 16 lower-case letters and digits")->capture_default_str();
  up->add_option("--nodes", o->nodes, "spread pods over N nodes when the inventory has only the implicit default node");
  up->callback([o, exit_code] { *exit_code = run_up(*o); });

  auto* down = lab->add_subcommand("down", "remove everything the lab created (idempotent; cleans up after crashes)");
  down->add_option("--name", o->name, "lab name (default: the only lab)");
  down->add_flag("--all", o->all, "remove every polnode lab on this machine");
  down->callback([o, exit_code] { *exit_code = run_down(*o); });

  auto* status = lab->add_subcommand("status", "nodes, pods, IPs, interfaces and attached programs, checked live");
  status->add_option("--name", o->name, "lab name (default: the only lab)");
  status->add_option("--format", o->format, "text or json")->check(CLI::IsMember({"text", "json"}));
  status->callback([o, exit_code] { *exit_code = run_status(*o); });

  auto* exec = lab->add_subcommand(
      "exec", "run a command inside a pod's (or node's) network namespace: polnode lab exec NAME -- CMD...");
  exec->add_option("--name", o->name, "lab name (default: the only lab)");
  exec->add_option("target", o->target, "ns/pod, pod, a workload (its first replica), or a node")->required();
  exec->add_option("command", o->command, "the command and its arguments (after --)")->required();
  exec->callback([o, exit_code] { *exit_code = run_exec(*o); });

  auto* list = lab->add_subcommand("list", "labs on this machine");
  list->callback([exit_code] { *exit_code = run_list(); });

  // --name defaults to "lab" for `up` only; the others pick the only lab when it is not given.
  for (auto* c : {down, status, exec}) c->preparse_callback([o](size_t) { o->name.clear(); });
}

}  // namespace polc::polnode
