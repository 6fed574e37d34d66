// `polnode apply|detach|status|observe`: the compiled policy in a lab's nodes.
#include <fmt/format.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "polc/runtime/datapath.h"
#include "polc/runtime/lab.h"
#include "polc/runtime/observe.h"

namespace polc::polnode {

namespace {

struct DatapathOptions {
  std::string name;
  std::string out_dir;
  std::string format = "text";
  std::vector<std::string> pods;
  std::vector<std::string> namespaces;
  std::string verdict;
  int count = 0;
  int timeout_ms = 0;
  bool all_rules = false;
};

int fail(const std::string& msg, int code = kFailed) {
  std::cerr << "polnode: " << msg << "\n";
  return code;
}

runtime::Result<runtime::LabState> lab_state(const std::string& name) {
  auto lab = pick_lab(name);
  if (!lab) return lab.error();
  return runtime::load_lab_state(*lab);
}

int run_apply(const DatapathOptions& o) {
  auto lab = lab_state(o.name);
  if (!lab) return fail(lab.error().message, kUsage);
  auto rep = runtime::datapath_apply(*lab, o.out_dir);
  if (!rep) return fail("apply failed, the previous policy stays in force: " + rep.error().message);
  std::cout << fmt::format(
      "applied {} to lab {}: generation {}, {} node(s), {} pod interfaces ({} hooks newly attached), "
      "switched after {:.1f} ms\n",
      o.out_dir, lab->name(), rep->generation, rep->nodes.size(), rep->interfaces, rep->attached_now, rep->millis);
  return kOk;
}

int run_detach(const DatapathOptions& o) {
  auto lab = lab_state(o.name);
  if (!lab) return fail(lab.error().message, kUsage);
  if (auto st = runtime::datapath_detach(*lab); !st) return fail(st.error().message);
  std::cout << fmt::format("detached the policy from lab {}: no program, qdisc or pin is left\n", lab->name());
  return kOk;
}

int run_status(const DatapathOptions& o) {
  auto lab = lab_state(o.name);
  if (!lab) return fail(lab.error().message, kUsage);
  auto dp = runtime::load_datapath_state(lab->name());
  if (!dp) {
    if (o.format == "json")
      std::cout << nlohmann::json{{"lab", lab->name()}, {"applied", false}}.dump(2) << "\n";
    else
      std::cout << fmt::format("lab {}: no policy applied\n", lab->name());
    return kOk;
  }
  auto st = runtime::datapath_status(*lab);
  if (!st) return fail(st.error().message);
  auto live = runtime::lab_live_status(*lab);
  auto programs_of = [&](const runtime::LabLivePod& p, runtime::TcDirection d) {
    std::string s;
    for (const auto& f : p.programs)
      if (f.dir == d) s += (s.empty() ? "" : " ") + fmt::format("{}#{}", f.prog_name, f.prog_id);
    return s.empty() ? std::string("-") : s;
  };
  if (o.format == "json") {
    nlohmann::json j{{"lab", lab->name()},        {"applied", true},        {"generation", dp->generation},
                     {"active_slot", dp->active}, {"out_dir", dp->out_dir}, {"applied_at", dp->applied_at}};
    j["nodes"] = nlohmann::json::array();
    for (const auto& n : *st) {
      nlohmann::json jn{{"node", n.dp.node},
                        {"slot", n.dp.slot},
                        {"epoch", n.dp.epoch},
                        {"object", n.dp.object},
                        {"programs", {{"from_pod", n.dp.prog_from_pod}, {"to_pod", n.dp.prog_to_pod}}}};
      jn["rules"] = nlohmann::json::array();
      for (const auto& r : n.rules)
        jn["rules"].push_back({{"rule", r.rule},
                               {"policy", r.policy},
                               {"path", r.path},
                               {"origin", r.origin},
                               {"packets", r.packets},
                               {"bytes", r.bytes}});
      jn["reasons"] = nlohmann::json::object();
      for (const auto& r : n.reasons) jn["reasons"][r.reason] = {{"packets", r.packets}, {"bytes", r.bytes}};
      jn["interfaces"] = nlohmann::json::array();
      for (size_t i = 0; i < lab->pods.size(); ++i) {
        const auto& p = lab->pods[i];
        if (p.pod.node != n.dp.node || p.host_if.empty()) continue;
        jn["interfaces"].push_back({{"pod", p.pod.full_name()},
                                    {"interface", p.host_if},
                                    {"ingress", programs_of(live.pods[i], runtime::TcDirection::Ingress)},
                                    {"egress", programs_of(live.pods[i], runtime::TcDirection::Egress)}});
      }
      j["nodes"].push_back(std::move(jn));
    }
    std::cout << j.dump(2) << "\n";
    return kOk;
  }
  std::cout << fmt::format("lab {}: generation {} from {} (applied {}), active slot {}\n", lab->name(), dp->generation,
                           dp->out_dir, dp->applied_at, dp->active);
  for (const auto& n : *st) {
    std::cout << fmt::format("\nnode {}: epoch {}, object {}, programs polc_from_pod#{} polc_to_pod#{}\n", n.dp.node,
                             n.dp.epoch, n.dp.object, n.dp.prog_from_pod, n.dp.prog_to_pod);
    std::cout << fmt::format("  {:<28} {:<12} {:<24} {}\n", "POD", "INTERFACE", "TC INGRESS (from pod)",
                             "TC EGRESS (to pod)");
    for (size_t i = 0; i < lab->pods.size(); ++i) {
      const auto& p = lab->pods[i];
      if (p.pod.node != n.dp.node || p.host_if.empty()) continue;
      std::cout << fmt::format("  {:<28} {:<12} {:<24} {}\n", p.pod.full_name(), p.host_if,
                               programs_of(live.pods[i], runtime::TcDirection::Ingress),
                               programs_of(live.pods[i], runtime::TcDirection::Egress));
    }
    std::cout << fmt::format("  {:<5} {:<60} {:<18} {:>10} {:>12}\n", "RULE", "POLICY", "PATH", "PACKETS", "BYTES");
    for (const auto& r : n.rules)
      std::cout << fmt::format("  {:<5} {:<60} {:<18} {:>10} {:>12}\n", r.rule, r.policy, r.path, r.packets, r.bytes);
    std::cout << fmt::format("  {:<22} {:>10} {:>12}\n", "REASON", "PACKETS", "BYTES");
    for (const auto& r : n.reasons)
      if (r.packets || o.all_rules)
        std::cout << fmt::format("  {:<22} {:>10} {:>12}{}\n", r.reason, r.packets, r.bytes,
                                 r.dropped ? "  (dropped)" : "");
  }
  return kOk;
}

std::atomic<bool> g_stop{false};
void on_signal(int) {
  g_stop = true;
}

int run_observe(const DatapathOptions& o) {
  auto lab = lab_state(o.name);
  if (!lab) return fail(lab.error().message, kUsage);
  runtime::FlowFilter filter;
  filter.pods = o.pods;
  filter.namespaces = o.namespaces;
  if (o.verdict == "DROPPED") filter.dropped = true;
  if (o.verdict == "FORWARDED") filter.dropped = false;
  auto reader = runtime::FlowReader::open(*lab);
  if (!reader) return fail(reader.error().message);
  struct sigaction sa {};
  sa.sa_handler = on_signal;  // no SA_RESTART: the poll returns at once
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  if (o.format == "text") std::cout << runtime::flow_header() << std::endl;
  int seen = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(o.timeout_ms);
  while (!g_stop) {
    int wait = 200;
    if (o.timeout_ms > 0) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      wait = static_cast<int>(std::min<long>(wait, left.count()));
    }
    auto n = reader->poll(wait, [&](const runtime::Flow& f) {
      if (!filter.matches(f) || (o.count > 0 && seen >= o.count)) return;
      std::cout << (o.format == "json" ? runtime::flow_json(f) : runtime::flow_text(f)) << "\n";
      ++seen;
    });
    if (!n) return fail(n.error().message);
    std::cout.flush();
    if (o.count > 0 && seen >= o.count) break;
  }
  return kOk;
}

}  // namespace

void register_datapath(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<DatapathOptions>();
  auto add_name = [&](CLI::App* c) { c->add_option("--name", o->name, "lab name (default: the only lab)"); };

  auto* apply =
      app.add_subcommand("apply", "load `polc compile` output into every node of the lab and switch to it atomically");
  apply->add_option("out", o->out_dir, "the output directory of polc compile")->required();
  add_name(apply);
  apply->footer(
      "Loads OUT/<node>/polc.bpf.o for every node, fills its maps from layout.json, and puts a\n"
      "dispatcher on every pod interface. The new policy takes effect with one map write, for every\n"
      "interface at once; until then the previous policy (or none) stays in force, also when\n"
      "anything fails. Exit status: 0 applied, 1 failed (nothing changed), 2 usage.");
  apply->callback([o, exit_code] { *exit_code = run_apply(*o); });

  auto* detach = app.add_subcommand("detach", "remove the policy: every program, qdisc and pin of the datapath");
  add_name(detach);
  detach->callback([o, exit_code] { *exit_code = run_detach(*o); });

  auto* status = app.add_subcommand("status", "what is loaded and attached, counters per rule and per reason");
  add_name(status);
  status->add_option("--format", o->format, "text or json")->check(CLI::IsMember({"text", "json"}));
  status->add_flag("--all", o->all_rules, "also list reasons that counted nothing");
  status->callback([o, exit_code] { *exit_code = run_status(*o); });

  auto* observe = app.add_subcommand("observe", "print flows as the datapath judges them (follows until Ctrl-C)");
  add_name(observe);
  observe->add_option("--pod", o->pods, "only flows from or to this pod (ns/pod or pod; repeatable)");
  observe->add_option("--namespace", o->namespaces, "only flows from or to this namespace (repeatable)");
  observe->add_option("--verdict", o->verdict, "FORWARDED or DROPPED")->check(CLI::IsMember({"FORWARDED", "DROPPED"}));
  observe->add_option("--format", o->format, "text or json (one object per line)")
      ->check(CLI::IsMember({"text", "json"}));
  observe->add_option("--count", o->count, "stop after this many flows");
  observe->add_option("--timeout-ms", o->timeout_ms, "stop after this long");
  observe->callback([o, exit_code] { *exit_code = run_observe(*o); });
}

}  // namespace polc::polnode
