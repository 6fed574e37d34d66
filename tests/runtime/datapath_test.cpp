// `polc compile` output loaded into a lab with `polnode apply`: real TCP and UDP sockets in
// every pod agree with the reference evaluator on every probe, same-node and cross-node; the
// chapter's exercise 1 shows in observe and status; a policy update under load is atomic; a
// failed apply keeps the previous policy; detach and lab down leave nothing behind.
#include "polc/runtime/datapath.h"

#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "lab_test_util.h"
#include "polc/frontend/loader.h"
#include "polc/ir/evaluator.h"
#include "polc/runtime/lab.h"
#include "polc/runtime/observe.h"
#include "polc/runtime/probe.h"

namespace polc::runtime {
namespace {

using testing::LabGuard;
using testing::leftovers;
using testing::run;
using testing::TempDir;
using testing::unique_lab;

const std::string kSrc = POLC_SOURCE_DIR;
const std::vector<std::string> kDemo = {kSrc + "/samples/demo"};
const std::vector<std::string> kTwoNodes = {kSrc + "/tests/runtime/inputs/twonode/inventory.yaml",
                                            kSrc + "/samples/demo/policies.yaml"};
const std::vector<std::string> kTwoNodesDenyDb = {kSrc + "/tests/runtime/inputs/twonode/inventory.yaml",
                                                  kSrc + "/tests/runtime/inputs/deny-db/policies.yaml"};
constexpr uint16_t kUndeclaredPort = 8080;
constexpr int kDropTimeoutMs = 300;  // well under the 1 s SYN retransmit: a dropped SYN is a timeout

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class Datapath : public ::testing::Test {
 protected:
  /// Builds the lab from `inputs` with polnode (as a user would) and loads the same inputs
  /// into the IR for the reference evaluator.
  void up(const std::vector<std::string>& inputs, const std::string& tag) {
    guard_ = std::make_unique<LabGuard>(unique_lab(tag));
    std::vector<std::string> argv = {testing::polnode(), "lab", "up"};
    argv.insert(argv.end(), inputs.begin(), inputs.end());
    argv.insert(argv.end(), {"--name", guard_->name()});
    auto r = run(argv);
    ASSERT_EQ(r.rc, 0) << r.out;
    auto s = load_lab_state(guard_->name());
    ASSERT_TRUE(s) << s.error().message;
    lab_ = std::move(*s);
    ir::DiagnosticEngine diags;
    auto res = frontend::load_inputs(inputs, diags);
    ASSERT_FALSE(diags.has_errors());
    model_ = std::make_unique<ir::Model>(std::move(res.model));
  }

  /// `polc compile inputs -o <tmp>/<name>`; returns the output directory.
  std::string compile(const std::vector<std::string>& inputs, const std::string& name) {
    std::string out = tmp_.path() + "/" + name;
    std::vector<std::string> argv = {testing::polc(), "compile"};
    argv.insert(argv.end(), inputs.begin(), inputs.end());
    argv.insert(argv.end(), {"-o", out, "--quiet"});
    auto r = run(argv);
    EXPECT_EQ(r.rc, 0) << r.out;
    return out;
  }

  void apply(const std::string& out) {
    auto r = datapath_apply(lab_, out);
    ASSERT_TRUE(r) << r.error().message;
  }

  const LabPodState& pod(const std::string& name) const {
    for (const auto& p : lab_.pods)
      if (p.pod.full_name() == name || p.pod.name == name) return p;
    throw std::runtime_error("no pod " + name);
  }
  const Netns& ns_of(const LabPodState& p) {
    auto it = netns_.find(p.netns);
    if (it == netns_.end()) it = netns_.emplace(p.netns, Netns::open(p.netns).value()).first;
    return it->second;
  }

  /// Every pod serves TCP and UDP on its declared ports and on kUndeclaredPort.
  void serve_everywhere() {
    for (const auto& p : lab_.pods) {
      std::set<uint16_t> nums{kUndeclaredPort};
      for (const auto& port : p.pod.ports) nums.insert(port.port);
      ports_[p.pod.full_name()] = {nums.begin(), nums.end()};
      std::vector<uint16_t> v(nums.begin(), nums.end());
      auto s = ProbeServer::start({v, v, {}, p.pod.full_name()}, &ns_of(p));
      ASSERT_TRUE(s) << s.error().message;
      servers_.push_back(std::move(*s));
    }
  }

  ProbeResult tcp(const std::string& from, const std::string& to, uint16_t port) {
    ProbeOptions o;
    o.netns = &ns_of(pod(from));
    o.timeout_ms = kDropTimeoutMs;
    o.read_reply = true;
    return tcp_connect({pod(to).pod.ip, port}, o);
  }

  struct Comparison {
    int probes = 0, allowed = 0, denied = 0, cross_node = 0;
    std::vector<std::string> mismatches;
  };
  /// Probes every ordered pod pair on every served port with TCP and UDP and compares each
  /// outcome with ir::evaluate().
  Comparison compare_with_reference() {
    Comparison total;
    std::vector<std::future<Comparison>> tasks;
    for (const auto& p : lab_.pods) (void)ns_of(p);  // open every namespace before the threads start
    for (const auto& src : lab_.pods)
      for (const auto& dst : lab_.pods)
        tasks.push_back(std::async(std::launch::async, [this, &src, &dst] {
          Comparison c;
          const Netns* sns = &netns_.at(src.netns);
          auto sid = model_->find_endpoint(src.pod.ns, src.pod.name);
          auto did = model_->find_endpoint(dst.pod.ns, dst.pod.name);
          for (uint16_t port : ports_.at(dst.pod.full_name()))
            for (uint8_t proto : {uint8_t(6), uint8_t(17)}) {
              ir::Probe probe{ir::Address::pod(*sid), ir::Address::pod(*did), proto, port, std::nullopt};
              bool expected = ir::evaluate(*model_, probe).allowed;
              ProbeOptions o;
              o.netns = sns;
              o.timeout_ms = kDropTimeoutMs;
              o.read_reply = true;
              ProbeResult r =
                  proto == 6 ? tcp_connect({dst.pod.ip, port}, o) : udp_exchange({dst.pod.ip, port}, "q", o);
              bool got = r.ok() && r.reply.rfind(dst.pod.full_name() + "\n", 0) == 0;
              bool well_formed = r.ok() || r.outcome == ProbeOutcome::Timeout;  // drops time out, never refuse
              ++c.probes;
              ++(expected ? c.allowed : c.denied);
              if (src.pod.node != dst.pod.node) ++c.cross_node;
              if (got != expected || !well_formed)
                c.mismatches.push_back(src.pod.full_name() + " -> " + dst.pod.full_name() + ":" + std::to_string(port) +
                                       (proto == 6 ? "/TCP" : "/UDP") + ": reference " +
                                       (expected ? "allows" : "denies") + ", kernel " + probe_outcome_name(r.outcome) +
                                       " " + r.detail);
            }
          return c;
        }));
    for (auto& t : tasks) {
      auto c = t.get();
      total.probes += c.probes;
      total.allowed += c.allowed;
      total.denied += c.denied;
      total.cross_node += c.cross_node;
      total.mismatches.insert(total.mismatches.end(), c.mismatches.begin(), c.mismatches.end());
    }
    return total;
  }

  TempDir tmp_;
  std::unique_ptr<LabGuard> guard_;  // torn down after everything below (declared first)
  LabState lab_;
  std::unique_ptr<ir::Model> model_;
  std::map<std::string, Netns> netns_;
  std::map<std::string, std::vector<uint16_t>> ports_;
  std::vector<ProbeServer> servers_;
};

std::string first(const std::vector<std::string>& v) {
  return v.empty() ? "" : v.front();
}

TEST_F(Datapath, DemoAgreesWithTheReferenceEvaluatorAndShowsExercise1) {
  up(kDemo, "dpdemo");
  std::string out = compile(kDemo, "demo");
  serve_everywhere();
  apply(out);

  // The chapter's exercise 1.
  EXPECT_TRUE(tcp("frontend-0", "backend-0", 80).ok());
  EXPECT_EQ(tcp("frontend-0", "database-0", 5432).outcome, ProbeOutcome::Timeout);
  EXPECT_TRUE(tcp("backend-1", "database-0", 5432).ok());

  auto c = compare_with_reference();
  EXPECT_TRUE(c.mismatches.empty()) << c.mismatches.size() << " mismatches, first: " << first(c.mismatches);
  EXPECT_EQ(c.probes, 6 * 6 * 2 * 2) << "6 sources x 6 destinations x (declared + undeclared port) x TCP/UDP";
  EXPECT_GT(c.allowed, 0);
  EXPECT_GT(c.denied, 0);

  // observe: the dropped frontend -> database flow, with the policy that isolates frontend.
  auto reader = FlowReader::open(lab_);
  ASSERT_TRUE(reader) << reader.error().message;
  EXPECT_EQ(tcp("frontend-1", "database-0", 5432).outcome, ProbeOutcome::Timeout);
  std::vector<Flow> flows;
  for (int i = 0; i < 20; ++i) {
    auto n = reader->poll(100, [&](const Flow& f) { flows.push_back(f); });
    ASSERT_TRUE(n) << n.error().message;
    FlowFilter f{{"frontend-1"}, {}, true};
    if (std::any_of(flows.begin(), flows.end(), [&](const Flow& x) { return f.matches(x); })) break;
  }
  const Flow* drop = nullptr;
  for (const auto& f : flows)
    if (f.dropped && f.source == "default/frontend-1" && f.destination == "default/database-0") drop = &f;
  ASSERT_NE(drop, nullptr) << flows.size() << " flows, none dropped from frontend-1";
  EXPECT_EQ(drop->direction, "egress");
  EXPECT_EQ(drop->dport, 5432);
  EXPECT_TRUE(contains(drop->policy, "NetworkPolicy default/default-deny")) << drop->policy;
  std::string line = flow_text(*drop);
  for (const char* part : {"default/frontend-1:", "default/database-0:5432", "DROPPED", "L3_L4", "SYN", "default-deny"})
    EXPECT_TRUE(contains(line, part)) << part << " not in: " << line;
  auto j = nlohmann::json::parse(flow_json(*drop));
  EXPECT_EQ(j["verdict"], "DROPPED");
  EXPECT_EQ(j["destination"]["port"], 5432);

  // status: per-rule counters moved for the rules that allowed traffic.
  auto st = datapath_status(lab_);
  ASSERT_TRUE(st) << st.error().message;
  ASSERT_EQ(st->size(), 1u);
  uint64_t fe_to_be = 0;
  for (const auto& r : st->front().rules)
    if (r.policy == "NetworkPolicy default/allow-frontend-to-backend") fe_to_be += r.packets;
  EXPECT_GT(fe_to_be, 0u);
  bool default_deny_counted = false;
  for (const auto& r : st->front().reasons)
    if (r.reason == "policy-default-deny") default_deny_counted = r.packets > 0 && r.dropped;
  EXPECT_TRUE(default_deny_counted);

  // The CLI renders the same: status lists the programs on every pod interface.
  auto cli = run({testing::polnode(), "status", "--name", guard_->name()});
  EXPECT_EQ(cli.rc, 0) << cli.out;
  for (const auto& p : lab_.pods) EXPECT_TRUE(contains(cli.out, p.pod.full_name())) << cli.out;
  EXPECT_TRUE(contains(cli.out, "polc_from_pod#")) << cli.out;
  EXPECT_TRUE(contains(cli.out, "polc_to_pod#")) << cli.out;
  EXPECT_TRUE(contains(cli.out, "allow-frontend-to-backend")) << cli.out;
}

TEST_F(Datapath, TwoNodesAgreeWithTheReferenceEvaluator) {
  up(kTwoNodes, "dptwo");
  ASSERT_EQ(lab_.nodes.size(), 2u);
  std::string out = compile(kTwoNodes, "two");
  serve_everywhere();
  apply(out);
  auto dp = load_datapath_state(lab_.name());
  ASSERT_TRUE(dp);
  EXPECT_EQ(dp->nodes.size(), 2u);
  auto c = compare_with_reference();
  EXPECT_TRUE(c.mismatches.empty()) << c.mismatches.size() << " mismatches, first: " << first(c.mismatches);
  EXPECT_GT(c.cross_node, 0);
  EXPECT_GT(c.allowed, 0);
  EXPECT_GT(c.denied, 0);
  // Cross-node, both directions of the rule pair: backend-a (node-a) reaches database (node-b).
  EXPECT_TRUE(tcp("backend-a", "database-0", 5432).ok());
  EXPECT_EQ(tcp("frontend-a", "database-0", 5432).outcome, ProbeOutcome::Timeout);
}

TEST_F(Datapath, UpdateUnderLoadIsAtomic) {
  up(kTwoNodes, "dpload");
  std::string a = compile(kTwoNodes, "a");        // the demo policies
  std::string b = compile(kTwoNodesDenyDb, "b");  // only: nothing reaches the database
  serve_everywhere();
  apply(a);

  // Pairs whose verdict is the same under both policies: at no moment may it change.
  struct Pair {
    std::string from, to;
    uint16_t port;
    bool allowed;
  };
  const std::vector<Pair> steady = {
      {"frontend-a", "backend-b", 80, true},      // cross-node, allowed by both
      {"frontend-b", "backend-b", 80, true},      // same node, allowed by both
      {"frontend-a", "database-0", 5432, false},  // cross-node, denied by both
      {"frontend-b", "database-0", 5432, false},  // same node, denied by both
  };
  std::atomic<bool> stop{false};
  std::vector<std::future<std::pair<int, std::vector<std::string>>>> load;
  for (const auto& p : steady) {
    const Netns* ns = &ns_of(pod(p.from));
    Ipv4Addr dst = pod(p.to).pod.ip;
    load.push_back(std::async(std::launch::async, [&, p, ns, dst] {
      int attempts = 0;
      std::vector<std::string> bad;
      while (!stop) {
        ProbeOptions o;
        o.netns = ns;
        // A connection a lab admits completes in well under a millisecond, so a denied pair is
        // probed with a short timeout: more attempts per switch, and a wrongful connect still shows.
        o.timeout_ms = p.allowed ? kDropTimeoutMs : 50;
        bool ok = tcp_connect({dst, p.port}, o).ok();
        ++attempts;
        if (ok != p.allowed)
          bad.push_back(p.from + " -> " + p.to + (ok ? " connected" : " was dropped") + " at attempt " +
                        std::to_string(attempts));
        // Continuous, but leaving the (two) CPUs some room for the applies being tested.
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      return std::pair{attempts, bad};
    }));
  }
  // The changing pair follows each switch as soon as apply returns.
  int switches = 0;
  for (int i = 0; i < 4; ++i) {
    bool to_b = i % 2 == 0;
    apply(to_b ? b : a);
    ++switches;
    bool ok = tcp("backend-a", "database-0", 5432).ok();
    EXPECT_EQ(ok, !to_b) << "after switch " << switches;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  stop = true;
  int attempts = 0;
  size_t violations = 0;
  for (auto& f : load) {
    auto [n, bad] = f.get();
    attempts += n;
    violations += bad.size();
    EXPECT_TRUE(bad.empty()) << bad.size() << " violations, first: " << bad.front();
    EXPECT_GT(n, 5) << "too little load to mean anything";
  }
  RecordProperty("connection_attempts", attempts);
  RecordProperty("violations", static_cast<int>(violations));
  std::cout << "[ info ] " << attempts << " connection attempts across " << switches << " switches, " << violations
            << " violations\n";
  auto dp = load_datapath_state(lab_.name());
  ASSERT_TRUE(dp);
  EXPECT_EQ(dp->generation, 5u);
}

TEST_F(Datapath, FailedApplyKeepsThePreviousPolicy) {
  up(kDemo, "dpfail");
  std::string good = compile(kDemo, "good");
  serve_everywhere();
  apply(good);
  auto pins_before = run({"/usr/bin/find", datapath_pin_dir(lab_.name())}).out;
  auto policy_in_force = [&] {
    EXPECT_TRUE(tcp("backend-0", "database-0", 5432).ok());
    EXPECT_EQ(tcp("frontend-0", "database-0", 5432).outcome, ProbeOutcome::Timeout);
  };

  auto broken = [&](const std::string& name, auto&& edit) {
    std::string dir = tmp_.path() + "/" + name;
    EXPECT_EQ(run({"/bin/cp", "-r", good, dir}).rc, 0);
    edit(dir + "/node-1");
    return dir;
  };
  // A corrupt object, a layout whose map entries do not fit, a layout from another ABI, an
  // output compiled for another placement.
  std::vector<std::pair<std::string, std::string>> cases = {
      {broken("elf", [](const std::string& d) { std::ofstream(d + "/polc.bpf.o") << "not an ELF file"; }),
       "polc.bpf.o"},
      {broken("fill",
              [](const std::string& d) {
                auto j = nlohmann::json::parse(read_file(d + "/layout.json"));
                for (auto& m : j["maps"])
                  if (m["name"] == "polc_contexts") m["entries"].push_back({{"key", 100000}, m["entries"][0]["value"]});
                std::ofstream(d + "/layout.json") << j.dump();
              }),
       "polc_contexts"},
      {broken("abi",
              [](const std::string& d) {
                auto j = nlohmann::json::parse(read_file(d + "/layout.json"));
                j["abi_version"] = 999;
                std::ofstream(d + "/layout.json") << j.dump();
              }),
       "ABI version 999"},
      {compile(kTwoNodes, "other"), "does not have"},
  };
  for (const auto& [dir, why] : cases) {
    auto r = datapath_apply(lab_, dir);
    ASSERT_FALSE(r) << dir;
    EXPECT_TRUE(contains(r.error().message, why)) << r.error().message;
    policy_in_force();
    auto dp = load_datapath_state(lab_.name());
    ASSERT_TRUE(dp);
    EXPECT_EQ(dp->generation, 1u);
    EXPECT_EQ(run({"/usr/bin/find", datapath_pin_dir(lab_.name())}).out, pins_before) << "after " << why;
  }
  auto cli = run({testing::polnode(), "apply", cases[0].first, "--name", lab_.name()});
  EXPECT_EQ(cli.rc, 1) << cli.out;
  EXPECT_TRUE(contains(cli.out, "previous policy stays in force")) << cli.out;
  // And a good one still goes in after all that.
  apply(good);
  policy_in_force();
  auto dp = load_datapath_state(lab_.name());
  ASSERT_TRUE(dp);
  EXPECT_EQ(dp->generation, 2u);
}

TEST_F(Datapath, FailedFirstApplyLeavesNothing) {
  up(kDemo, "dpfirst");
  std::string dir = tmp_.path() + "/bad";
  EXPECT_EQ(run({"/bin/cp", "-r", compile(kDemo, "good"), dir}).rc, 0);
  std::ofstream(dir + "/node-1/polc.bpf.o") << "garbage";
  auto r = datapath_apply(lab_, dir);
  ASSERT_FALSE(r);
  struct stat st {};
  EXPECT_NE(::stat(datapath_pin_dir(lab_.name()).c_str(), &st), 0) << "no pins after a failed first apply";
  auto live = lab_live_status(lab_);
  for (const auto& p : live.pods) EXPECT_TRUE(p.programs.empty()) << p.name;
  EXPECT_FALSE(load_datapath_state(lab_.name()));
}

TEST_F(Datapath, DetachLeavesNothingAndOpensTraffic) {
  up(kDemo, "dpdetach");
  serve_everywhere();
  apply(compile(kDemo, "demo"));
  EXPECT_EQ(tcp("frontend-0", "database-0", 5432).outcome, ProbeOutcome::Timeout);
  auto dp = load_datapath_state(lab_.name());
  ASSERT_TRUE(dp);
  std::vector<uint32_t> prog_ids{dp->nodes[0].prog_from_pod, dp->nodes[0].prog_to_pod};
  // With tcx the compiled programs themselves sit on every hook; without, the dispatchers.
  const bool tcx = TcxLink::supported() && getenv("POLNODE_NO_TCX") == nullptr;
  for (const auto& p : lab_live_status(lab_).pods)
    for (const auto& f : p.programs) {
      prog_ids.push_back(f.prog_id);
      EXPECT_EQ(f.tcx, tcx) << p.name;
      if (tcx) {
        EXPECT_EQ(f.prog_id, f.dir == TcDirection::Ingress ? dp->nodes[0].prog_from_pod : dp->nodes[0].prog_to_pod);
      }
    }
  EXPECT_EQ(prog_ids.size(), 2u + 2u * lab_.pods.size());

  auto cli = run({testing::polnode(), "detach", "--name", lab_.name()});
  ASSERT_EQ(cli.rc, 0) << cli.out;
  EXPECT_TRUE(tcp("frontend-0", "database-0", 5432).ok()) << "no policy: everything passes";
  for (const auto& p : lab_live_status(lab_).pods) EXPECT_TRUE(p.programs.empty()) << p.name;
  for (const auto& p : lab_.pods) {
    auto q = run({"/bin/sh", "-c", "ip netns exec " + p.node_netns + " tc qdisc show dev " + p.host_if});
    EXPECT_FALSE(contains(q.out, "clsact")) << p.host_if << ": " << q.out;
  }
  struct stat st {};
  EXPECT_NE(::stat(datapath_pin_dir(lab_.name()).c_str(), &st), 0);
  EXPECT_FALSE(load_datapath_state(lab_.name()));
  // Every program is freed once its last reference is gone (RCU: shortly after).
  for (uint32_t id : prog_ids) {
    int fd = -1;
    for (int i = 0; i < 200 && (fd = bpf_prog_get_fd_by_id(id)) >= 0; ++i) {
      ::close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    EXPECT_LT(fd, 0) << "program " << id << " still loaded";
  }
  auto again = run({testing::polnode(), "detach", "--name", lab_.name()});
  EXPECT_EQ(again.rc, 0) << again.out;
}

TEST_F(Datapath, AnEmptyGenerationSlotFailsClosed) {
  up(kDemo, "dpclosed");
  std::string out = compile(kDemo, "demo");
  serve_everywhere();
  apply(out);
  ASSERT_TRUE(tcp("frontend-0", "backend-0", 80).ok());
  auto dp = load_datapath_state(lab_.name());
  ASSERT_TRUE(dp);
  // Name the other slot, which holds no programs yet, in the generation word: every attached
  // program defers to it, finds it empty, and drops.
  int gen = bpf_obj_get((datapath_pin_dir(lab_.name()) + "/gen").c_str());
  ASSERT_GE(gen, 0);
  uint32_t k = 0, word = 0;
  ASSERT_EQ(bpf_map_lookup_elem(gen, &k, &word), 0);
  EXPECT_EQ(word & 3u, dp->active);
  uint32_t empty = ((word >> 2) + 1) << 2 | (dp->active == 0 ? 1u : 0u);
  ASSERT_EQ(bpf_map_update_elem(gen, &k, &empty, BPF_ANY), 0);
  ::close(gen);
  EXPECT_EQ(tcp("frontend-0", "backend-0", 80).outcome, ProbeOutcome::Timeout) << "no program: drop, never pass";
  apply(out);
  EXPECT_TRUE(tcp("frontend-0", "backend-0", 80).ok());
}

TEST_F(Datapath, LabDownRemovesAnAppliedDatapath) {
  up(kDemo, "dpdown");
  apply(compile(kDemo, "demo"));
  struct stat st {};
  ASSERT_EQ(::stat(datapath_pin_dir(lab_.name()).c_str(), &st), 0);
  auto r = run({testing::polnode(), "lab", "down", "--name", lab_.name()});
  EXPECT_EQ(r.rc, 0) << r.out;
  EXPECT_TRUE(leftovers(lab_.name()).empty());
}

TEST_F(Datapath, ObserveCliFiltersAndPrintsJson) {
  up(kDemo, "dpobs");
  serve_everywhere();
  apply(compile(kDemo, "demo"));
  // observe runs as its own process; traffic starts once it prints its header.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::execl(testing::polnode().c_str(), "polnode", "observe", "--name", lab_.name().c_str(), "--verdict", "DROPPED",
            "--pod", "default/database-0", "--format", "json", "--count", "1", "--timeout-ms", "5000", nullptr);
    ::_exit(127);
  }
  ::close(fds[1]);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(tcp("frontend-0", "backend-0", 80).ok());  // forwarded: filtered out
  EXPECT_EQ(tcp("frontend-0", "database-0", 5432).outcome, ProbeOutcome::Timeout);
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  auto lines = std::count(out.begin(), out.end(), '\n');
  ASSERT_EQ(lines, 1) << out;
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["verdict"], "DROPPED");
  EXPECT_EQ(j["source"]["name"], "default/frontend-0");
  EXPECT_EQ(j["destination"]["name"], "default/database-0");
  EXPECT_TRUE(contains(j["policy"].get<std::string>(), "default-deny")) << out;
}

}  // namespace
}  // namespace polc::runtime
