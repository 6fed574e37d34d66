// The compiled datapath in the real kernel (BPF_PROG_TEST_RUN, root): every sample's objects
// load, and the programs agree with the reference evaluator on every probe of every sample and
// on randomized policy sets; conntrack, fragments, ICMP, non-IP traffic, counters and flow
// events behave as docs/datapath.md says.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "datapath_harness.h"
#include "polc/backend_bpf/backend.h"
#include "polc/backend_bpf/build_l7_maps.h"
#include "polc/backend_bpf/layout_codec.h"
#include "polc/frontend/loader.h"
#include "polc/ir/policy_tables.h"
#include "random_model.h"
#include "test_util.h"

namespace polc::backend_bpf::testing {
namespace {

namespace fs = std::filesystem;
constexpr int kPass = 0;  // TC_ACT_OK
constexpr int kDrop = 2;  // TC_ACT_SHOT

uint32_t ip(const char* s) {
  return ir::Ipv4::parse(s)->value;
}

std::string addr_name(const ir::Model& m, const ir::Address& a) {
  if (const auto* id = std::get_if<ir::EndpointId>(&a.v)) return m.endpoint_name(*id);
  return std::get<ir::Ipv4>(a.v).str();
}

std::string describe(const ir::Model& m, const ir::Probe& p) {
  return addr_name(m, p.src) + " -> " + addr_name(m, p.dst) + " " + std::to_string(p.port) + "/" +
         std::string(ir::protocol_name(p.proto));
}

/// Every address class representative, nodes, a few fixed IPs; every segment boundary port.
std::vector<ir::Probe> exhaustive_probes(const ir::Model& m, const ir::PolicyTables& t) {
  std::vector<ir::Address> addrs;
  for (const auto& e : m.endpoints) addrs.push_back(ir::Address::pod(e.id));
  for (const auto& n : m.nodes) addrs.push_back(ir::Address::ip(n.ip));
  for (const auto& c : t.classes)
    if (c.kind == ir::AddrClass::Kind::World)
      for (const auto& p : c.prefixes) {
        addrs.push_back(ir::Address::ip(ir::Ipv4{p.first()}));
        addrs.push_back(ir::Address::ip(ir::Ipv4{p.last()}));
      }
  for (const char* a : {"203.0.113.7", "10.10.0.1", "8.8.8.8"}) addrs.push_back(ir::Address::ip(ir::Ipv4{ip(a)}));
  std::set<std::pair<uint8_t, uint16_t>> ports{{6, 80}, {17, 53}, {6, 53}, {1, 8},
                                               {1, 0},  {132, 9}, {47, 0}, {6, 65535}};
  const uint8_t protos[] = {6, 17, 132, 1, 47};
  for (const auto& f : t.functions)
    for (int b = 0; b < ir::kProtoBuckets; ++b)
      for (const auto& s : f.buckets[b]) {
        ports.insert({protos[b], s.lo});
        ports.insert({protos[b], s.hi});
        if (s.hi < 65535) ports.insert({protos[b], static_cast<uint16_t>(s.hi + 1)});
      }
  for (const auto& e : m.endpoints)
    for (const auto& p : e.ports) ports.insert({p.proto, p.port});
  std::vector<ir::Probe> probes;
  for (const auto& s : addrs)
    for (const auto& d : addrs)
      for (const auto& [proto, port] : ports)
        probes.push_back(representable(ir::Probe{s, d, proto, port, std::nullopt}));
  return probes;
}

bool has_reply(const ir::Probe& p) {
  if (p.proto != 1) return true;
  return p.port == 8 || p.port == 13 || p.port == 15 || p.port == 17;
}

Packet reply_of(const Packet& p) {
  Packet r = p;
  std::swap(r.saddr, r.daddr);
  std::swap(r.sport, r.dport);
  r.tcp_flags = 0x12;  // SYN|ACK
  if (p.proto == 1) r.icmp_type = p.icmp_type == 8 ? 0 : static_cast<uint8_t>(p.icmp_type + 1);
  return r;
}

void clear_conntrack(std::vector<LoadedNode>& nodes) {
  for (auto& n : nodes) {
    for (const char* map : {"polc_ct", "polc_frags"}) {
      int fd = n.dp->map_fd(map);
      std::vector<uint8_t> key(64), next(64);
      std::vector<std::vector<uint8_t>> keys;
      void* prev = nullptr;
      while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
        keys.push_back(next);
        key = next;
        prev = key.data();
      }
      for (auto& k : keys) bpf_map_delete_elem(fd, k.data());
    }
  }
}

/// Runs every probe through the datapath and compares with ir::evaluate; also checks that a
/// second packet of the flow gets the same verdict and that replies of allowed flows pass. A
/// probe with an HTTP request is also sent as that request on a fresh connection (when the
/// datapath can classify it at all: http_request_bytes) and must get the evaluator's verdict
/// for the request. Returns the number of probes; *http_probes counts the HTTP ones.
size_t check_probes(const ir::Model& m, std::vector<LoadedNode>& nodes, const std::vector<ir::Probe>& probes,
                    const std::string& what, size_t* http_probes = nullptr) {
  size_t mismatches = 0, n = 0, http = 0;
  for (const auto& probe : probes) {
    const ir::Probe p = representable(probe);
    const bool want = ir::evaluate(m, p).allowed;
    const uint16_t sport = static_cast<uint16_t>(30000 + (n % 30000));
    Packet pkt = probe_packet(m, p, sport);
    DatapathVerdict got = run_probe(m, nodes, pkt);
    DatapathVerdict again = run_probe(m, nodes, pkt);
    bool reply_ok = true;
    if (got.allowed && has_reply(p)) reply_ok = run_probe(m, nodes, reply_of(pkt)).allowed;
    ++n;
    if (got.allowed != want || again.allowed != got.allowed || !reply_ok) {
      if (++mismatches <= 8)
        ADD_FAILURE() << what << ": " << describe(m, p) << " evaluator=" << want << " datapath=" << got.allowed
                      << " (egress " << got.egress.value_or(-1) << ", ingress " << got.ingress.value_or(-1)
                      << ") second packet=" << again.allowed << " reply passes=" << reply_ok;
    }
    clear_conntrack(nodes);
    if (probe.http && p.proto == 6) {
      auto bytes = http_request_bytes(*probe.http);
      if (bytes) {
        ir::Probe hp = p;
        hp.http = probe.http;
        const bool want_http = ir::evaluate(m, hp).allowed;
        DatapathVerdict got_http = run_http_probe(m, nodes, pkt, *bytes);
        ++http;
        if (got_http.allowed != want_http && ++mismatches <= 8)
          ADD_FAILURE() << what << ": " << polc::testing::probe_str(m, hp) << " evaluator=" << want_http
                        << " datapath=" << got_http.allowed << " (egress " << got_http.egress.value_or(-1)
                        << ", ingress " << got_http.ingress.value_or(-1) << ")";
        clear_conntrack(nodes);
      }
    }
  }
  EXPECT_EQ(mismatches, 0u) << what << ": " << mismatches << " of " << n << " probes disagree";
  if (http_probes) *http_probes += http;
  return n;
}

TEST(DatapathKernel, EverySampleObjectLoads) {
  size_t loaded = 0;
  for (const auto& dir : sample_dirs()) {
    ir::Model m = load_dir(dir);
    ir::DiagnosticEngine diags;
    auto out = compile_policy(m, {}, diags);
    ASSERT_TRUE(out.ok()) << dir << ": " << out.error().message;
    for (const auto& a : out->nodes) {
      std::string err;
      auto dp = Datapath::load(a.object, &err);
      ASSERT_TRUE(dp) << dir << " node " << a.node.name << ": " << err;
      EXPECT_NO_THROW(dp->fill(a.layout)) << dir << " node " << a.node.name;
      ++loaded;
    }
  }
  EXPECT_GE(loaded, sample_dirs().size());
}

TEST(DatapathKernel, SamplesAgreeWithEvaluator) {
  for (const auto& dir : sample_dirs()) {
    ir::Model m = load_dir(dir);
    ir::DiagnosticEngine diags;
    auto nodes = compile_and_load(m, diags);
    ir::PolicyTables t = ir::resolve_policies(m);
    size_t n = check_probes(m, nodes, exhaustive_probes(m, t), dir.filename().string());
    EXPECT_GT(n, 1000u) << dir;
  }
}

/// Maps the randomized tests load once and refill for every policy set: the same programs,
/// new map contents, as a runtime applies a policy change that fits the object.
const std::map<std::string, uint32_t> kSlotSizes = {
    {"polc_endpoints", 4096}, {"polc_ipcache", 16384},   {"polc_ipcache_lpm", 4096}, {"polc_contexts", 4096},
    {"polc_policy", 65536},   {"polc_functions", 16384}, {"polc_verdicts", 65536},   {"polc_rule_counters", 16384},
    {"polc_ct", 4096},        {"polc_frags", 256},       {"polc_events", 1 << 16}};

TEST(DatapathKernel, RandomPolicySetsAgreeWithEvaluator) {
  const uint64_t sets = std::getenv("POLC_DIFF_SETS") ? std::strtoull(std::getenv("POLC_DIFF_SETS"), nullptr, 10) : 200;
  const size_t probes_per_set = 150;
  // Objects with and without the HTTP code (POLC_FEATURE_L7) differ: one set of slots each.
  std::map<bool, std::vector<std::unique_ptr<Datapath>>> slot_sets;
  size_t total = 0, models = 0, http = 0;
  for (uint64_t seed = 1; seed <= sets; ++seed) {
    ir::Model m = load_yaml("random-" + std::to_string(seed) + ".yaml", polc::testing::random_cluster_yaml(seed));
    ir::DiagnosticEngine diags;
    auto out = compile_policy(m, {}, diags);
    ASSERT_TRUE(out.ok()) << "seed " << seed << ": " << out.error().message;
    std::vector<LoadedNode> nodes;
    bool l7 = false;
    for (const auto& map : out->nodes[0].layout["maps"]) l7 = l7 || map["name"] == "polc_l7_sets";
    auto& slots = slot_sets[l7];
    for (size_t i = 0; i < out->nodes.size(); ++i) {
      if (slots.size() <= i) {
        std::string err;
        auto sizes = kSlotSizes;
        if (l7) {
          sizes["polc_l7_sets"] = 1024;
          sizes["polc_http_dfa"] = 8192;
        }
        slots.push_back(Datapath::load(out->nodes[i].object, &err, sizes));
        ASSERT_TRUE(slots.back()) << err;
      }
      for (const auto& map : out->nodes[i].layout["maps"])
        ASSERT_LE(map["used"].get<uint64_t>(), slots[i]->max_entries(map["name"]))
            << "seed " << seed << " map " << map["name"];
      slots[i]->clear();
      slots[i]->fill(out->nodes[i].layout);
      LoadedNode ln;
      ln.name = out->nodes[i].node.name;
      ln.layout = out->nodes[i].layout;
      ln.dp.reset(slots[i].release());
      nodes.push_back(std::move(ln));
    }
    auto probes = polc::testing::random_probes(m, seed, probes_per_set);
    total += check_probes(m, nodes, probes, "seed " + std::to_string(seed), &http);
    for (size_t i = 0; i < nodes.size(); ++i) slots[i].reset(nodes[i].dp.release());
    ++models;
    if (::testing::Test::HasFailure()) break;  // the first failing seed is the reproducer
  }
  EXPECT_EQ(models, sets);
  EXPECT_GE(total, sets * probes_per_set / 2);
  EXPECT_GE(http, sets * 2) << "HTTP probes sent as requests";
  std::printf("random policy sets: %zu probes, %zu of them HTTP requests\n", total, http);
}

// ---------------------------------------------------------------------------------------------
// Behaviour on the demo sample: frontend -> backend:80 allowed, backend -> database:5432 allowed,
// frontend -> database denied, everything isolated in both directions.

class DemoDatapath : public ::testing::Test {
 protected:
  void SetUp() override {
    m_ = load_dir(fs::path(POLC_SOURCE_DIR) / "samples" / "demo");
    ir::DiagnosticEngine diags;
    nodes_ = compile_and_load(m_, diags);
    ASSERT_EQ(nodes_.size(), 1u);
    dp_ = nodes_[0].dp.get();
    frontend_ = pod_ip("default", "frontend-0");
    backend_ = pod_ip("default", "backend-0");
    database_ = pod_ip("default", "database-0");
  }
  uint32_t pod_ip(const char* ns, const char* name) { return m_.endpoint(*m_.find_endpoint(ns, name)).ip.value; }
  Packet tcp(uint32_t s, uint32_t d, uint16_t sport, uint16_t dport, uint8_t flags = 0x02) {
    Packet p;
    p.saddr = s;
    p.daddr = d;
    p.sport = sport;
    p.dport = dport;
    p.tcp_flags = flags;
    return p;
  }
  int from_pod(const Packet& p) { return dp_->run("polc_from_pod", build_packet(p)); }
  int to_pod(const Packet& p) { return dp_->run("polc_to_pod", build_packet(p)); }

  ir::Model m_;
  std::vector<LoadedNode> nodes_;
  Datapath* dp_ = nullptr;
  uint32_t frontend_ = 0, backend_ = 0, database_ = 0;
};

TEST_F(DemoDatapath, RepliesOfAllowedConnectionsPass) {
  Packet syn = tcp(frontend_, backend_, 41000, 80);
  EXPECT_EQ(from_pod(syn), kPass);
  EXPECT_EQ(to_pod(syn), kPass);
  uint64_t replies = dp_->stat(POLC_REASON_CT_REPLY);
  Packet synack = tcp(backend_, frontend_, 80, 41000, 0x12);
  // backend's egress has no rule to frontend: only conntrack lets the reply out.
  EXPECT_EQ(from_pod(synack), kPass);
  EXPECT_EQ(to_pod(synack), kPass);
  EXPECT_EQ(dp_->stat(POLC_REASON_CT_REPLY), replies + 2);
}

TEST_F(DemoDatapath, ReplyDirectionWithoutConnectionIsJudgedByPolicy) {
  Packet stray = tcp(backend_, frontend_, 80, 41001, 0x12);
  uint64_t denied = dp_->stat(POLC_REASON_POLICY_DEFAULT_DENY);
  EXPECT_EQ(from_pod(stray), kDrop);
  EXPECT_EQ(dp_->stat(POLC_REASON_POLICY_DEFAULT_DENY), denied + 1);
  ir::Probe reverse{ir::Address::ip(ir::Ipv4{backend_}), ir::Address::ip(ir::Ipv4{frontend_}), 6, 41001, std::nullopt};
  EXPECT_FALSE(ir::evaluate(m_, reverse).allowed);
}

TEST_F(DemoDatapath, EstablishedFlowsSkipThePolicy) {
  Packet syn = tcp(frontend_, backend_, 41002, 80);
  ASSERT_EQ(from_pod(syn), kPass);
  uint64_t est = dp_->stat(POLC_REASON_CT_ESTABLISHED), allowed = dp_->stat(POLC_REASON_POLICY_ALLOW);
  Packet ack = tcp(frontend_, backend_, 41002, 80, 0x10);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(from_pod(ack), kPass);
  EXPECT_EQ(dp_->stat(POLC_REASON_CT_ESTABLISHED), est + 5);
  EXPECT_EQ(dp_->stat(POLC_REASON_POLICY_ALLOW), allowed);
  EXPECT_EQ(dp_->count("polc_ct"), 1u);
}

TEST_F(DemoDatapath, EgressDecisionNeverStandsInForIngress) {
  // frontend -> database: frontend's egress has no rule for database; check the ingress side
  // alone too: an egress conntrack entry must not let the packet into the database.
  Packet syn = tcp(frontend_, database_, 41003, 5432);
  EXPECT_EQ(from_pod(syn), kDrop);
  EXPECT_EQ(to_pod(syn), kDrop);
  Packet ok = tcp(backend_, database_, 41004, 5432);
  EXPECT_EQ(from_pod(ok), kPass);
  EXPECT_EQ(to_pod(ok), kPass);
}

TEST_F(DemoDatapath, NewEpochRejudgesEstablishedConnections) {
  Packet syn = tcp(frontend_, backend_, 41005, 80);
  ASSERT_EQ(from_pod(syn), kPass);
  ASSERT_EQ(to_pod(syn), kPass);
  // Same tables, new epoch: the next packet goes through the policy once (and passes).
  polc_config cfg = dp_->config();
  cfg.epoch += 1;
  dp_->set_config(cfg);
  Packet ack = tcp(frontend_, backend_, 41005, 80, 0x10);
  uint64_t est = dp_->stat(POLC_REASON_CT_ESTABLISHED), allowed = dp_->stat(POLC_REASON_POLICY_ALLOW);
  EXPECT_EQ(from_pod(ack), kPass);
  EXPECT_EQ(dp_->stat(POLC_REASON_CT_ESTABLISHED), est);
  EXPECT_EQ(dp_->stat(POLC_REASON_POLICY_ALLOW), allowed + 1);
  EXPECT_EQ(from_pod(ack), kPass);
  EXPECT_EQ(dp_->stat(POLC_REASON_CT_ESTABLISHED), est + 1) << "current again after one judgement";

  // A new policy that denies everything, under a new epoch: the connection is revoked, in both
  // directions (the reply finds a stale entry, is judged again, and dropped).
  int fd = dp_->map_fd("polc_functions");
  for (uint32_t f = 0; f < nodes_[0].layout["tables"]["contexts"].size() * 4 + 8; ++f) {
    polc_function fn{};
    if (bpf_map_lookup_elem(fd, &f, &fn) != 0) break;
    for (auto& v : fn.defaults) v.outcome = POLC_OUTCOME_DEFAULT_DENY;
    ASSERT_EQ(bpf_map_update_elem(fd, &f, &fn, BPF_ANY), 0);
  }
  int vfd = dp_->map_fd("polc_verdicts");
  for (const auto& map : nodes_[0].layout["maps"])
    if (map["name"] == "polc_verdicts")
      for (const auto& e : map["entries"]) {
        auto k = layout::encode(map["key"], e["key"]);
        bpf_map_delete_elem(vfd, k.data());
      }
  cfg.epoch += 1;
  dp_->set_config(cfg);
  uint64_t revoked = dp_->stat(POLC_REASON_CT_REVOKED);
  Packet reply = tcp(backend_, frontend_, 80, 41005, 0x10);
  EXPECT_EQ(from_pod(reply), kDrop);
  EXPECT_EQ(dp_->stat(POLC_REASON_CT_REVOKED), revoked + 1);
  EXPECT_EQ(from_pod(ack), kDrop);
  EXPECT_EQ(dp_->stat(POLC_REASON_CT_REVOKED), revoked + 2);
  EXPECT_EQ(dp_->count("polc_ct"), 0u);
}

TEST_F(DemoDatapath, TcpRstEndsTheConnectionAndANewSynIsJudged) {
  Packet syn = tcp(frontend_, backend_, 41006, 80);
  ASSERT_EQ(from_pod(syn), kPass);
  Packet rst = tcp(frontend_, backend_, 41006, 80, 0x04);
  EXPECT_EQ(from_pod(rst), kPass);
  uint64_t allowed = dp_->stat(POLC_REASON_POLICY_ALLOW);
  EXPECT_EQ(from_pod(syn), kPass);
  EXPECT_EQ(dp_->stat(POLC_REASON_POLICY_ALLOW), allowed + 1) << "a SYN on a closing entry is judged again";
}

TEST_F(DemoDatapath, SelfTrafficAndOwnNodePass) {
  Packet self = tcp(database_, database_, 1234, 9999);
  EXPECT_EQ(from_pod(self), kPass);
  EXPECT_EQ(to_pod(self), kPass);
  uint32_t node_ip = m_.nodes[0].ip.value;
  Packet probe = tcp(node_ip, database_, 50000, 8080);  // kubelet-style probe
  EXPECT_EQ(to_pod(probe), kPass);
  EXPECT_GT(dp_->stat(POLC_REASON_FROM_OWN_NODE), 0u);
  // The pod's reply to its node goes out through conntrack (database's egress has no rule).
  EXPECT_EQ(from_pod(reply_of(probe)), kPass);
  // Without the flag, the node is judged as any peer.
  polc_config cfg = dp_->config();
  cfg.flags &= ~uint32_t{POLC_CFG_ALLOW_FROM_OWN_NODE};
  dp_->set_config(cfg);
  Packet probe2 = tcp(node_ip, database_, 50001, 8080);
  EXPECT_EQ(to_pod(probe2), kDrop);
}

TEST_F(DemoDatapath, NonIpPassesIpv6AndVlanDrop) {
  Packet arp;
  arp.ethertype = 0x0806;
  EXPECT_EQ(from_pod(arp), kPass);
  EXPECT_EQ(to_pod(arp), kPass);
  Packet v6;
  v6.ethertype = 0x86DD;
  EXPECT_EQ(from_pod(v6), kDrop);
  EXPECT_EQ(to_pod(v6), kDrop);
  EXPECT_EQ(dp_->stat(POLC_REASON_IPV6), 2u);
  Packet vlan;
  vlan.ethertype = 0x8100;
  EXPECT_EQ(from_pod(vlan), kDrop);
  EXPECT_EQ(dp_->stat(POLC_REASON_VLAN), 1u);
}

TEST_F(DemoDatapath, MalformedPacketsDrop) {
  Packet p = tcp(frontend_, backend_, 41007, 80);
  p.truncate_l4 = true;
  EXPECT_EQ(from_pod(p), kDrop);
  std::vector<uint8_t> short_ihl = build_packet(tcp(frontend_, backend_, 41007, 80));
  short_ihl[14] = 0x43;  // IHL 3: shorter than the fixed header
  EXPECT_EQ(dp_->run("polc_from_pod", short_ihl), kDrop);
  std::vector<uint8_t> wrong_version = build_packet(tcp(frontend_, backend_, 41007, 80));
  wrong_version[14] = 0x65;  // version 6 in an IPv4 frame
  EXPECT_EQ(dp_->run("polc_from_pod", wrong_version), kDrop);
  EXPECT_EQ(dp_->stat(POLC_REASON_MALFORMED), 3u);
}

TEST_F(DemoDatapath, IpOptionsAreSkipped) {
  Packet p = tcp(frontend_, backend_, 41008, 80);
  p.ihl = 7;
  EXPECT_EQ(from_pod(p), kPass);
  Packet q = tcp(frontend_, database_, 41009, 5432);
  q.ihl = 15;
  EXPECT_EQ(from_pod(q), kDrop);
}

TEST_F(DemoDatapath, FragmentsFollowTheirFirstFragment) {
  Packet first = tcp(frontend_, backend_, 41010, 80);
  first.ip_id = 777;
  first.frag = 0x2000;  // more fragments, offset 0
  EXPECT_EQ(from_pod(first), kPass);
  Packet later = first;
  later.frag = 0x0010;  // offset 128 bytes, last
  EXPECT_EQ(from_pod(later), kPass);
  Packet orphan = later;
  orphan.ip_id = 778;
  EXPECT_EQ(from_pod(orphan), kDrop);
  EXPECT_EQ(dp_->stat(POLC_REASON_FRAGMENT), 1u);
  // A denied first fragment leaves nothing for its followers.
  Packet bad = tcp(frontend_, database_, 41011, 5432);
  bad.ip_id = 779;
  bad.frag = 0x2000;
  EXPECT_EQ(from_pod(bad), kDrop);
  bad.frag = 0x0010;
  EXPECT_EQ(from_pod(bad), kDrop);
}

TEST_F(DemoDatapath, UnknownEndpointsAndSpoofedSourcesDrop) {
  Packet stranger = tcp(ip("10.10.99.99"), backend_, 41012, 80);
  EXPECT_EQ(from_pod(stranger), kDrop);
  EXPECT_EQ(dp_->stat(POLC_REASON_UNKNOWN_ENDPOINT), 1u);
  // Bind frontend-0 to interface 4242: the test run's interface (lo) is not it.
  int fd = dp_->map_fd("polc_endpoints");
  polc_ip_key k{htonl(frontend_)};
  polc_endpoint ep{};
  ASSERT_EQ(bpf_map_lookup_elem(fd, &k, &ep), 0);
  ep.ifindex = 4242;
  ASSERT_EQ(bpf_map_update_elem(fd, &k, &ep, BPF_ANY), 0);
  EXPECT_EQ(from_pod(tcp(frontend_, backend_, 41013, 80)), kDrop);
  EXPECT_EQ(dp_->stat(POLC_REASON_SPOOFED), 1u);
  // Nor can anyone forge frontend-0's self traffic, in either program.
  EXPECT_EQ(from_pod(tcp(frontend_, frontend_, 41013, 80)), kDrop);
  EXPECT_EQ(to_pod(tcp(frontend_, frontend_, 41013, 80)), kDrop);
  EXPECT_EQ(dp_->stat(POLC_REASON_SPOOFED), 3u);
  EXPECT_EQ(dp_->stat(POLC_REASON_SELF), 0u);
}

TEST_F(DemoDatapath, CountersCountDecidingRuleSets) {
  // Packets a rule decided = the counters of every rule set holding it.
  ir::PolicyTables t = ir::resolve_policies(m_);
  auto rule_count = [&](const std::string& policy) {
    uint64_t n = 0;
    for (uint32_t s = 0; s < t.rule_sets.size(); ++s)
      for (auto r : t.rule_sets[s])
        if (m_.policy(m_.rule(r).policy).name == policy) {
          n += dp_->rule_counter(s);
          break;
        }
    return n;
  };
  Packet syn = tcp(frontend_, backend_, 41014, 80);
  ASSERT_EQ(to_pod(syn), kPass);
  EXPECT_EQ(rule_count("allow-frontend-to-backend"), 1u);
  Packet ack = tcp(frontend_, backend_, 41014, 80, 0x10);
  ASSERT_EQ(to_pod(ack), kPass);
  EXPECT_EQ(rule_count("allow-frontend-to-backend"), 2u) << "established packets count for the rules that allowed them";
  EXPECT_EQ(rule_count("allow-backend-to-database"), 0u);
}

int collect_event(void* ctx, void* data, size_t size) {
  auto* out = static_cast<std::vector<polc_event>*>(ctx);
  if (size >= sizeof(polc_event)) {
    polc_event e;
    std::memcpy(&e, data, sizeof e);
    out->push_back(e);
  }
  return 0;
}

TEST_F(DemoDatapath, FlowEventsReportVerdictRuleAndTuple) {
  std::vector<polc_event> events;
  ring_buffer* rb = ring_buffer__new(dp_->map_fd("polc_events"), collect_event, &events, nullptr);
  ASSERT_NE(rb, nullptr);
  EXPECT_EQ(from_pod(tcp(frontend_, database_, 41015, 5432)), kDrop);
  EXPECT_EQ(to_pod(tcp(backend_, database_, 41016, 5432)), kPass);
  EXPECT_EQ(to_pod(tcp(backend_, database_, 41016, 5432, 0x10)), kPass);  // established: no event
  ring_buffer__consume(rb);
  ring_buffer__free(rb);
  ASSERT_EQ(events.size(), 2u);
  const polc_event& drop = events[0];
  EXPECT_EQ(drop.verdict, POLC_DROPPED);
  EXPECT_EQ(drop.reason, POLC_REASON_POLICY_DEFAULT_DENY);
  EXPECT_EQ(drop.dir, POLC_DIR_EGRESS);
  EXPECT_EQ(ntohl(drop.saddr), frontend_);
  EXPECT_EQ(ntohl(drop.daddr), database_);
  EXPECT_EQ(drop.sport, 41015);
  EXPECT_EQ(drop.dport, 5432);
  EXPECT_EQ(drop.proto, 6);
  EXPECT_EQ(drop.ifindex, 1u);  // BPF_PROG_TEST_RUN runs on lo
  const polc_event& allow = events[1];
  EXPECT_EQ(allow.verdict, POLC_FORWARDED);
  EXPECT_EQ(allow.reason, POLC_REASON_POLICY_ALLOW);
  EXPECT_EQ(allow.dir, POLC_DIR_INGRESS);
  EXPECT_NE(allow.rule, POLC_NONE);
  EXPECT_EQ(m_.policy(m_.rule(ir::RuleId(allow.rule)).policy).name, "allow-backend-to-database");
}

// ---------------------------------------------------------------------------------------------
// ICMP: echo replies and errors about allowed connections.

constexpr const char* kIcmpYaml = R"(
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default, labels: {app: a}}
spec: {nodeName: n1}
status: {podIP: 10.10.1.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: default, labels: {app: b}}
spec: {nodeName: n1}
status: {podIP: 10.10.1.2}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: a-out, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: a}}
  egress:
    - toEndpoints: [{matchLabels: {app: b}}]
      icmps: [{fields: [{type: 8}]}]
    - toCIDR: [198.51.100.0/24]
      toPorts: [{ports: [{port: "443", protocol: TCP}]}]
  ingress:
    - fromEndpoints: [{matchLabels: {app: b}}]
      toPorts: [{ports: [{port: "9", protocol: UDP}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: b-in, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: b}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: a}}]
      icmps: [{fields: [{type: 8}]}]
  egress:
    - toEndpoints: [{matchLabels: {app: a}}]
      toPorts: [{ports: [{port: "9", protocol: UDP}]}]
)";

TEST(DatapathKernel, IcmpEchoRepliesAndErrorsOfAllowedConnections) {
  ir::Model m = load_yaml("icmp.yaml", kIcmpYaml);
  ir::DiagnosticEngine diags;
  auto nodes = compile_and_load(m, diags);
  Datapath& dp = *nodes.at(0).dp;
  Packet echo;
  echo.saddr = ip("10.10.1.1");
  echo.daddr = ip("10.10.1.2");
  echo.proto = 1;
  echo.icmp_type = 8;
  echo.icmp_id = 77;
  EXPECT_EQ(dp.run("polc_from_pod", build_packet(echo)), kPass);
  EXPECT_EQ(dp.run("polc_to_pod", build_packet(echo)), kPass);
  Packet reply = echo;
  std::swap(reply.saddr, reply.daddr);
  reply.icmp_type = 0;
  EXPECT_EQ(dp.run("polc_from_pod", build_packet(reply)), kPass);
  EXPECT_EQ(dp.run("polc_to_pod", build_packet(reply)), kPass);
  // Another type on the same identifier is not part of that exchange: the policy judges it.
  Packet ts = echo;
  ts.icmp_type = 13;
  EXPECT_EQ(dp.run("polc_from_pod", build_packet(ts)), kDrop);
  // A "reply" nobody asked for is judged by the policy (b may not send ICMP to a).
  Packet unsolicited = reply;
  unsolicited.icmp_id = 78;
  EXPECT_EQ(dp.run("polc_from_pod", build_packet(unsolicited)), kDrop);

  // a -> 198.51.100.9:443 is allowed; a router's "fragmentation needed" about it comes back.
  Packet out;
  out.saddr = ip("10.10.1.1");
  out.daddr = ip("198.51.100.9");
  out.sport = 45000;
  out.dport = 443;
  ASSERT_EQ(dp.run("polc_from_pod", build_packet(out)), kPass);
  Packet err;
  err.saddr = ip("203.0.113.1");
  err.daddr = ip("10.10.1.1");
  err.proto = 1;
  err.icmp_type = 3;
  err.icmp_code = 4;
  err.icmp_id = 0;
  err.icmp_payload = embedded_header(out);
  uint64_t related = dp.stat(POLC_REASON_CT_RELATED);
  EXPECT_EQ(dp.run("polc_to_pod", build_packet(err)), kPass);
  EXPECT_EQ(dp.stat(POLC_REASON_CT_RELATED), related + 1);
  // The same error about a connection that does not exist is judged by a's ingress: denied.
  Packet other = out;
  other.sport = 45001;
  err.icmp_payload = embedded_header(other);
  EXPECT_EQ(dp.run("polc_to_pod", build_packet(err)), kDrop);

  // a's reply-direction error about a UDP flow b opened to a (b -> a:9): a port unreachable
  // from a goes out as related to the connection a's ingress allowed.
  Packet udp;
  udp.saddr = ip("10.10.1.2");
  udp.daddr = ip("10.10.1.1");
  udp.proto = 17;
  udp.sport = 5555;
  udp.dport = 9;
  ASSERT_EQ(dp.run("polc_to_pod", build_packet(udp)), kPass);
  Packet unreach;
  unreach.saddr = ip("10.10.1.1");
  unreach.daddr = ip("10.10.1.2");
  unreach.proto = 1;
  unreach.icmp_type = 3;
  unreach.icmp_code = 3;
  unreach.icmp_payload = embedded_header(udp);
  EXPECT_EQ(dp.run("polc_from_pod", build_packet(unreach)), kPass);
}

TEST(DatapathKernel, ConntrackDisabledJudgesEveryPacket) {
  ir::Model m = load_yaml("icmp.yaml", kIcmpYaml);
  ir::DiagnosticEngine diags;
  auto nodes = compile_and_load(m, diags);
  Datapath& dp = *nodes.at(0).dp;
  polc_config cfg = dp.config();
  cfg.flags |= POLC_CFG_NO_CONNTRACK;
  dp.set_config(cfg);
  Packet out;
  out.saddr = ip("10.10.1.1");
  out.daddr = ip("198.51.100.9");
  out.sport = 45000;
  out.dport = 443;
  for (int i = 0; i < 3; ++i) EXPECT_EQ(dp.run("polc_from_pod", build_packet(out)), kPass);
  EXPECT_EQ(dp.count("polc_ct"), 0u);
  EXPECT_EQ(dp.stat(POLC_REASON_POLICY_ALLOW), 3u);
}

}  // namespace
}  // namespace polc::backend_bpf::testing
