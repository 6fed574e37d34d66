// Services in a lab, with real sockets (issue 7): connections to a ClusterIP land on the
// service's backends in the proportions of its canary weights, keep their backend for their
// whole life, and see the ClusterIP as the peer (reverse NAT: connect() to the ClusterIP
// completes); the policy judges the chosen backend, as the verifier's `svc:` resolution says;
// re-applying with an inventory in which a backend left the service takes it out of rotation;
// NodePort works from another node. tests/runtime/inputs/services describes the lab.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "lab_test_util.h"
#include "polc/frontend/loader.h"
#include "polc/frontend/query_parser.h"
#include "polc/runtime/datapath.h"
#include "polc/runtime/handles.h"
#include "polc/runtime/lab.h"
#include "polc/runtime/probe.h"
#include "polc/verifier/reach.h"
#include "polc/verifier/resolve.h"

namespace polc::runtime {
namespace {

using testing::LabGuard;
using testing::leftovers;
using testing::run;
using testing::TempDir;
using testing::unique_lab;

const std::string kSrc = POLC_SOURCE_DIR;
const std::string kInventory = kSrc + "/tests/runtime/inputs/services/inventory.yaml";
const std::string kClientToV1 = kSrc + "/tests/runtime/inputs/services/client-to-v1.yaml";
constexpr uint16_t kHttp = 80, kEcho = 5353, kNodePort = 30080;
constexpr int kDropTimeoutMs = 300;  // well under the 1 s SYN retransmit

/// |count - n p| within 4 standard deviations of Binomial(n, p): a correct datapath fails
/// this once in about 16,000 runs.
void expect_binomial(int count, int n, double p, const std::string& what) {
  double sigma = std::sqrt(n * p * (1 - p));
  EXPECT_NEAR(count, n * p, 4 * sigma) << what << ": " << count << " of " << n << " (expected " << n * p << " +- "
                                       << 4 * sigma << ")";
}

class Services : public ::testing::Test {
 protected:
  void SetUp() override {
    guard_ = std::make_unique<LabGuard>(unique_lab("svc"));
    auto r = run({testing::polnode(), "lab", "up", kInventory, "--name", guard_->name()});
    ASSERT_EQ(r.rc, 0) << r.out;
    auto s = load_lab_state(guard_->name());
    ASSERT_TRUE(s) << s.error().message;
    lab_ = std::move(*s);
    ASSERT_EQ(lab_.spec.services.size(), 1u);
    ASSERT_TRUE(lab_.spec.services[0].cluster_ip);
    vip_ = *lab_.spec.services[0].cluster_ip;
    // Every web pod serves its target ports, naming itself in every reply.
    for (const auto& p : lab_.pods) {
      if (p.pod.name.rfind("web-", 0) != 0) continue;
      ServerSpec spec;
      spec.id = p.pod.name;
      for (const auto& port : p.pod.ports) (port.proto == 6 ? spec.tcp : spec.udp).push_back(port.port);
      auto srv = ProbeServer::start(spec, &ns_of(p.netns));
      ASSERT_TRUE(srv) << srv.error().message;
      servers_.push_back(std::move(*srv));
    }
  }
  void TearDown() override {
    servers_.clear();
    netns_.clear();
    std::string lab = guard_->name();
    guard_.reset();
    EXPECT_TRUE(leftovers(lab).empty()) << leftovers(lab).front();
  }

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

  const Netns& ns_of(const std::string& name) {
    auto it = netns_.find(name);
    if (it == netns_.end()) it = netns_.emplace(name, Netns::open(name).value()).first;
    return it->second;
  }
  const LabPodState& pod(const std::string& name) const {
    for (const auto& p : lab_.pods)
      if (p.pod.name == name) return p;
    throw std::runtime_error("no pod " + name);
  }
  const LabNodeState& node(const std::string& name) const {
    for (const auto& n : lab_.nodes)
      if (n.node.name == name) return n;
    throw std::runtime_error("no node " + name);
  }

  /// One TCP connection from namespace `ns` to `to`: the backend that greeted it ("" when the
  /// connection failed; *outcome says how).
  std::string connect_once(const std::string& ns, Endpoint4 to, ProbeOutcome* outcome = nullptr,
                           int timeout_ms = 1000) {
    ProbeOptions o;
    o.netns = &ns_of(ns);
    o.timeout_ms = timeout_ms;
    o.read_reply = true;
    ProbeResult r = tcp_connect(to, o);
    if (outcome) *outcome = r.outcome;
    if (!r.ok()) return "";
    return r.reply.substr(0, r.reply.find('\n'));
  }

  /// n connections, `parallel` at a time; the greeting backend of each ("" = failed).
  std::vector<std::pair<std::string, ProbeOutcome>> connect_many(const std::string& ns, Endpoint4 to, int n,
                                                                 int timeout_ms = 1000, int parallel = 1) {
    std::vector<std::pair<std::string, ProbeOutcome>> out;
    (void)ns_of(ns);
    for (int i = 0; i < n; i += parallel) {
      std::vector<std::future<std::pair<std::string, ProbeOutcome>>> batch;
      for (int k = i; k < std::min(n, i + parallel); ++k)
        batch.push_back(std::async(std::launch::async, [&] {
          ProbeOutcome o = ProbeOutcome::Error;
          std::string id = connect_once(ns, to, &o, timeout_ms);
          return std::pair{id, o};
        }));
      for (auto& f : batch) out.push_back(f.get());
    }
    return out;
  }

  TempDir tmp_;
  std::unique_ptr<LabGuard> guard_;
  LabState lab_;
  Ipv4Addr vip_ = 0;
  std::map<std::string, Netns> netns_;
  std::vector<ProbeServer> servers_;
};

TEST_F(Services, ClusterIpSplitsByWeightAndRepliesComeFromTheClusterIp) {
  // The lab's ClusterIP is the IR's (what `polc dump` prints): a stable address in 10.96.0.0/12.
  ir::DiagnosticEngine diags;
  auto model = frontend::load_inputs({kInventory}, diags);
  ASSERT_FALSE(diags.has_errors());
  ASSERT_EQ(model.model.services.size(), 1u);
  EXPECT_EQ(model.model.services[0].cluster_ip->value, vip_);
  EXPECT_TRUE(ir::Cidr::parse("10.96.0.0/12")->contains(ir::Ipv4{vip_}));

  apply(compile({kInventory}, "open"));
  // N connections from a client on node-a to the ClusterIP: every connect() completes, which it
  // can only do if the SYN-ACK comes from the ClusterIP (reverse NAT). The first one alone, so
  // that a broken datapath fails in a second rather than after N timeouts.
  ProbeOutcome first = ProbeOutcome::Error;
  ASSERT_NE(connect_once(pod("client-a").netns, {vip_, kHttp}, &first), "") << probe_outcome_name(first);
  constexpr int kN = 500;
  std::map<std::string, int> by_backend;
  auto t0 = std::chrono::steady_clock::now();
  for (const auto& [id, outcome] : connect_many(pod("client-a").netns, {vip_, kHttp}, kN)) {
    EXPECT_EQ(outcome, ProbeOutcome::Ok) << probe_outcome_name(outcome);
    ++by_backend[id];
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int v1 = by_backend["web-v1-a"] + by_backend["web-v1-b"];
  int v2 = by_backend["web-v2-a"];
  EXPECT_EQ(v1 + v2, kN);
  // v1 has 80% (two pods sharing it: 40% each), v2 20%.
  expect_binomial(v1, kN, 0.8, "v1");
  expect_binomial(by_backend["web-v1-a"], kN, 0.4, "web-v1-a");
  expect_binomial(by_backend["web-v1-b"], kN, 0.4, "web-v1-b");
  expect_binomial(v2, kN, 0.2, "v2");
  std::printf("[ services ] %d connections in %.2f s: web-v1-a %d, web-v1-b %d, web-v2-a %d (v1 %.1f%%, v2 %.1f%%)\n",
              kN, secs, by_backend["web-v1-a"], by_backend["web-v1-b"], v2, 100.0 * v1 / kN, 100.0 * v2 / kN);

  // From the other node (backends local and remote to the client).
  std::set<std::string> seen;
  for (const auto& [id, outcome] : connect_many(pod("client-b").netns, {vip_, kHttp}, 60)) {
    EXPECT_EQ(outcome, ProbeOutcome::Ok) << probe_outcome_name(outcome);
    seen.insert(id);
  }
  EXPECT_EQ(seen, (std::set<std::string>{"web-v1-a", "web-v1-b", "web-v2-a"}));
}

TEST_F(Services, AConnectionKeepsItsBackend) {
  apply(compile({kInventory}, "open"));
  const Netns& client = ns_of(pod("client-a").netns);

  // TCP: one connection, many round trips; a packet sent to another backend would reset it.
  auto fd = socket_in(client, AF_INET, SOCK_STREAM);
  ASSERT_TRUE(fd) << fd.error().message;
  timeval tv{2, 0};
  ASSERT_EQ(setsockopt(fd->get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  ASSERT_EQ(setsockopt(fd->get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);  // bounds connect()
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(vip_);
  sa.sin_port = htons(kHttp);
  ASSERT_EQ(::connect(fd->get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0) << std::strerror(errno);
  sockaddr_in peer{};
  socklen_t len = sizeof peer;
  ASSERT_EQ(getpeername(fd->get(), reinterpret_cast<sockaddr*>(&peer), &len), 0);
  EXPECT_EQ(ntohl(peer.sin_addr.s_addr), vip_);
  char buf[256];
  ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
  ASSERT_GT(n, 0);
  std::string greeting(buf, static_cast<size_t>(n));
  EXPECT_TRUE(greeting.rfind("web-", 0) == 0) << greeting;
  for (int i = 0; i < 50; ++i) {
    std::string msg = "round " + std::to_string(i) + "\n";
    ASSERT_EQ(::send(fd->get(), msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size()));
    std::string got;
    while (got.size() < msg.size()) {
      n = ::recv(fd->get(), buf, sizeof buf, 0);
      ASSERT_GT(n, 0) << "round " << i << ": " << std::strerror(errno);
      got.append(buf, static_cast<size_t>(n));
    }
    EXPECT_EQ(got, msg);
  }

  // UDP: every datagram of a flow (one source port) reaches the same backend, while different
  // flows spread over the backends. A connected UDP socket accepts only datagrams from the
  // ClusterIP:port, so every reply also proves reverse NAT.
  std::set<std::string> flows_seen;
  for (int flow = 0; flow < 30; ++flow) {
    auto u = socket_in(client, AF_INET, SOCK_DGRAM);
    ASSERT_TRUE(u) << u.error().message;
    ASSERT_EQ(setsockopt(u->get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    sockaddr_in ua = sa;
    ua.sin_port = htons(kEcho);
    ASSERT_EQ(::connect(u->get(), reinterpret_cast<sockaddr*>(&ua), sizeof ua), 0);
    std::set<std::string> ids;
    for (int i = 0; i < 10; ++i) {
      std::string msg = "dgram " + std::to_string(i);
      ASSERT_EQ(::send(u->get(), msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size()));
      n = ::recv(u->get(), buf, sizeof buf, 0);
      ASSERT_GT(n, 0) << "flow " << flow << " datagram " << i << ": " << std::strerror(errno);
      std::string reply(buf, static_cast<size_t>(n));
      ids.insert(reply.substr(0, reply.find('\n')));
      EXPECT_EQ(reply.substr(reply.find('\n') + 1), msg);
    }
    EXPECT_EQ(ids.size(), 1u) << "flow " << flow << " reached " << ids.size() << " backends";
    flows_seen.insert(ids.begin(), ids.end());
  }
  EXPECT_GE(flows_seen.size(), 2u);  // 30 flows all on one backend: probability < 1e-6
}

TEST_F(Services, ThePolicyJudgesTheChosenBackendAsTheVerifierSays) {
  // The verifier resolves `svc:web:80` through targetPort to each backend and judges each.
  ir::DiagnosticEngine diags;
  auto res = frontend::load_inputs({kInventory, kClientToV1}, diags);
  ASSERT_FALSE(diags.has_errors());
  const ir::Model& m = res.model;
  auto q = frontend::parse_query("can default/client-a reach svc:default/web:80", frontend::QueryMode::Question,
                                 ir::SourceLoc{}, diags);
  ASSERT_TRUE(q);
  auto rq = verifier::resolve_reach(m, *q, diags);
  ASSERT_TRUE(rq) << rq.error().message;
  auto client = m.find_endpoint("default", "client-a");
  ASSERT_TRUE(client);
  std::set<std::string> allowed, denied;
  for (const auto& c : rq->dst.candidates) {
    ASSERT_EQ(c.ports.size(), 1u);
    ir::Probe probe{ir::Address::pod(*client), ir::Address::pod(c.ep), c.ports[0].first, c.ports[0].second,
                    std::nullopt};
    auto a = verifier::check_probe(m, probe);
    ASSERT_TRUE(a) << a.error().message;
    (a->allowed ? allowed : denied).insert(m.endpoint(c.ep).name);
  }
  EXPECT_EQ(allowed, (std::set<std::string>{"web-v1-a", "web-v1-b"}));
  EXPECT_EQ(denied, (std::set<std::string>{"web-v2-a"}));

  // The kernel: the service picks a backend regardless of policy (20% go to v2), then the
  // client's egress policy judges that backend. So every connection either lands on a backend
  // the verifier allows or is dropped (a timeout, never a refusal), at the rate of v2's weight.
  apply(compile({kInventory, kClientToV1}, "policy"));
  constexpr int kN = 200;
  std::set<std::string> landed;
  int dropped = 0;
  for (const auto& [id, outcome] : connect_many(pod("client-a").netns, {vip_, kHttp}, kN, kDropTimeoutMs, 10)) {
    if (outcome == ProbeOutcome::Ok) {
      landed.insert(id);
    } else {
      EXPECT_EQ(outcome, ProbeOutcome::Timeout) << probe_outcome_name(outcome);
      ++dropped;
    }
  }
  EXPECT_EQ(landed, allowed);
  EXPECT_GT(dropped, 0);
  expect_binomial(dropped, kN, 0.2, "dropped (landed on v2)");
  // Directly, the pods agree: v1 on 8080 connects, v2 on 9090 is dropped.
  ProbeOutcome o;
  EXPECT_EQ(connect_once(pod("client-a").netns, {pod("web-v1-b").pod.ip, 8080}, &o), "web-v1-b");
  EXPECT_EQ(connect_once(pod("client-a").netns, {pod("web-v2-a").pod.ip, 9090}, &o, kDropTimeoutMs), "");
  EXPECT_EQ(o, ProbeOutcome::Timeout);
}

TEST_F(Services, ABackendThatLeftTheServiceLeavesTheRotation) {
  apply(compile({kInventory}, "before"));
  const std::string client = pod("client-a").netns;
  // An established connection to web-v2-a, opened before the change.
  const Netns& cns = ns_of(client);
  Fd held;
  for (int i = 0; i < 100 && !held.valid(); ++i) {
    auto fd = socket_in(cns, AF_INET, SOCK_STREAM);
    ASSERT_TRUE(fd);
    timeval tv{2, 0};
    ASSERT_EQ(setsockopt(fd->get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    ASSERT_EQ(setsockopt(fd->get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);  // bounds connect()
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(vip_);
    sa.sin_port = htons(kHttp);
    ASSERT_EQ(::connect(fd->get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    char buf[64];
    ssize_t n = ::recv(fd->get(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0);
    if (std::string(buf, static_cast<size_t>(n)) == "web-v2-a\n") held = std::move(*fd);
  }
  ASSERT_TRUE(held.valid()) << "100 connections, none on web-v2-a";

  // The same inventory, but web-v2-a no longer matches the selector (its endpoint is removed).
  std::ifstream in(kInventory);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  const std::string mark = "app: web  # the re-apply test relabels this pod";
  auto pos = text.find(mark);
  ASSERT_NE(pos, std::string::npos);
  text.replace(pos, mark.size(), "app: web-drained");
  std::string drained = tmp_.path() + "/drained.yaml";
  std::ofstream(drained) << text;
  std::string after = compile({drained}, "after");
  // Only map contents differ: the same object code.
  {
    std::ifstream a(tmp_.path() + "/before/node-a/polc.bpf.o", std::ios::binary),
        b(after + "/node-a/polc.bpf.o", std::ios::binary);
    std::stringstream sa, sb;
    sa << a.rdbuf();
    sb << b.rdbuf();
    EXPECT_EQ(sa.str(), sb.str()) << "the object changed";
  }
  apply(after);

  std::map<std::string, int> by_backend;
  for (const auto& [id, outcome] : connect_many(client, {vip_, kHttp}, 200)) {
    EXPECT_EQ(outcome, ProbeOutcome::Ok) << probe_outcome_name(outcome);
    ++by_backend[id];
  }
  EXPECT_EQ(by_backend.count("web-v2-a"), 0u) << by_backend["web-v2-a"] << " connections still reached web-v2-a";
  EXPECT_EQ(by_backend["web-v1-a"] + by_backend["web-v1-b"], 200);

  // The connection established before keeps its backend (as with kube-proxy: removing an
  // endpoint does not cut its connections).
  std::string msg = "still there\n";
  ASSERT_EQ(::send(held.get(), msg.data(), msg.size(), 0), static_cast<ssize_t>(msg.size()));
  char buf[64];
  ssize_t n = ::recv(held.get(), buf, sizeof buf, 0);
  ASSERT_GT(n, 0) << std::strerror(errno);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), msg);
}

TEST_F(Services, NodePortFromAnotherNode) {
  apply(compile({kInventory}, "open"));
  ProbeOutcome first = ProbeOutcome::Error;
  ASSERT_NE(connect_once(node("node-b").netns, {node("node-a").node.ip, kNodePort}, &first), "")
      << probe_outcome_name(first);
  // From node-b's own namespace (the underlay, not a pod) to node-a's address and nodePort:
  // web-v1-a and web-v2-a run on node-a, web-v1-b on node-b (reached through node-a, SNAT).
  for (const auto& [from, to] : {std::pair{"node-b", "node-a"}, std::pair{"node-a", "node-b"}}) {
    std::set<std::string> seen;
    for (const auto& [id, outcome] : connect_many(node(from).netns, {node(to).node.ip, kNodePort}, 60)) {
      EXPECT_EQ(outcome, ProbeOutcome::Ok) << from << " -> " << to << ": " << probe_outcome_name(outcome);
      seen.insert(id);
    }
    EXPECT_EQ(seen, (std::set<std::string>{"web-v1-a", "web-v1-b", "web-v2-a"})) << from << " -> " << to;
  }
  // A pod reaches the nodePort too (translated by its own node's hook).
  ProbeOutcome o;
  EXPECT_NE(connect_once(pod("client-a").netns, {node("node-b").node.ip, kNodePort}, &o), "") << probe_outcome_name(o);

  // detach takes the underlay programs off as well.
  ASSERT_TRUE(datapath_detach(lab_));
  for (const auto& n : lab_.nodes) {
    auto idx = link_index(ns_of(n.netns), n.underlay_if);
    ASSERT_TRUE(idx);
    auto filters = list_tc_filters(ns_of(n.netns), *idx);
    ASSERT_TRUE(filters);
    EXPECT_TRUE(filters->empty()) << n.node.name;
  }
}

}  // namespace
}  // namespace polc::runtime
