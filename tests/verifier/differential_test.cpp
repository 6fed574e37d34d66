// The verifier's main oracle: on seeded random clusters (tests/support) and random probes, the
// Z3 encoding, the reference evaluator, the policy tables and the connectivity matrix give the
// same verdict, and the Z3 model explains it with the same reason and rules as the evaluator. A
// mismatch prints a reproducer: the seed, the probe, the verdicts and the YAML.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "polc/frontend/loader.h"
#include "polc/frontend/query_parser.h"
#include "polc/ir/evaluator.h"
#include "polc/ir/policy_tables.h"
#include "polc/verifier/connectivity.h"
#include "polc/verifier/reach.h"
#include "random_model.h"

namespace polc {
namespace {

constexpr int kShards = 8;
constexpr uint64_t kSeedsPerShard = 30;  // 240 random clusters in all
constexpr size_t kProbesPerSeed = 35;
constexpr size_t kQuestionsPerSeed = 4;

std::string rules_str(const ir::Model& m, const std::vector<ir::RuleId>& rules) {
  std::string s;
  for (auto r : rules) s += (s.empty() ? "" : ",") + m.policy(m.rule(r).policy).display() + " " + m.rule(r).path;
  return s.empty() ? "-" : s;
}

std::string dir_str(const ir::Model& m, const ir::DirectionVerdict& d) {
  std::ostringstream o;
  o << (d.allowed ? "allow" : "deny") << " " << ir::reason_name(d.reason) << " rules=[" << rules_str(m, d.rules)
    << "] isolating=" << d.isolating.size() << (d.l7_restricted ? " l7-restricted" : "");
  return o.str();
}

/// The connectivity group an address belongs to (what the matrix reports it as).
uint32_t group_of(const ir::Model& m, const ir::PolicyTables& t, const verifier::Connectivity& c,
                  const ir::Address& a) {
  ir::Resolved r = ir::resolve_address(m, a);
  switch (r.kind) {
    case ir::Resolved::Kind::Pod: return c.group_of_endpoint(r.ep);
    case ir::Resolved::Kind::Node: return c.group_of_node(r.node);
    case ir::Resolved::Kind::External: {
      uint32_t cls = t.class_of_ip(r.ip);
      for (uint32_t g = 0; g < c.groups().size(); ++g)
        if (c.groups()[g].kind == verifier::Group::Kind::World && c.groups()[g].cls == cls) return g;
    }
  }
  return ir::PolicyTables::kNone;
}

bool same_direction(const ir::DirectionVerdict& a, const ir::DirectionVerdict& b) {
  return a.allowed == b.allowed && a.reason == b.reason && a.rules == b.rules && a.isolating == b.isolating &&
         a.l7_restricted == b.l7_restricted;
}

class Differential : public ::testing::TestWithParam<int> {};

TEST_P(Differential, Z3AgreesWithEvaluatorAndTables) {
  int shard = GetParam();
  size_t probes = 0, allowed = 0;
  for (uint64_t seed = static_cast<uint64_t>(shard) * kSeedsPerShard + 1;
       seed <= static_cast<uint64_t>(shard + 1) * kSeedsPerShard; ++seed) {
    std::string yaml = testing::random_cluster_yaml(seed);
    ir::DiagnosticEngine diags;
    auto res = frontend::load_text("random.yaml", yaml, diags);
    ASSERT_FALSE(diags.has_errors()) << "seed " << seed << ": the generator produced invalid input";
    const ir::Model& m = res.model;
    ir::PolicyTables tables = ir::resolve_policies(m);
    verifier::Connectivity conn(m, tables);
    int failures = 0;
    for (const auto& p : testing::random_probes(m, seed, kProbesPerSeed)) {
      ++probes;
      ir::Verdict ev = ir::evaluate(m, p);
      bool tb = tables.allowed(m, p);
      verifier::ReachOptions opt;
      opt.counterexample = false;
      auto z = verifier::check_probe(m, p, opt);
      ASSERT_TRUE(z.ok()) << "seed " << seed << " probe " << testing::probe_str(m, p) << ": " << z.error().message;
      allowed += ev.allowed;
      bool agree = z->allowed == ev.allowed && tb == ev.allowed && same_direction(z->verdict.egress, ev.egress) &&
                   same_direction(z->verdict.ingress, ev.ingress);
      // The matrix speaks about connections between two different endpoints (no request).
      std::string mx = "-";
      bool self = ev.egress.reason == ir::Reason::SelfTraffic;
      if (!p.http && !self) {
        uint32_t gs = group_of(m, tables, conn, p.src), gd = group_of(m, tables, conn, p.dst);
        bool cell = conn.allowed(gs, gd).contains(p.proto, p.port);
        mx = cell ? "allow" : "deny";
        agree = agree && cell == ev.allowed;
      }
      if (agree) continue;
      ADD_FAILURE() << "mismatch: seed " << seed << "\n  probe: " << testing::probe_str(m, p)
                    << "\n  evaluator: " << (ev.allowed ? "allow" : "deny") << "  egress " << dir_str(m, ev.egress)
                    << " | ingress " << dir_str(m, ev.ingress) << "\n  z3:        " << (z->allowed ? "allow" : "deny")
                    << "  egress " << dir_str(m, z->verdict.egress) << " | ingress " << dir_str(m, z->verdict.ingress)
                    << "\n  tables:    " << (tb ? "allow" : "deny") << "\n  matrix:    " << mx
                    << (failures == 0 ? "\n--- random.yaml (seed " + std::to_string(seed) + ") ---\n" + yaml : "");
      if (++failures >= 3) break;
    }
  }
  // The probes must exercise both outcomes.
  EXPECT_GT(allowed, probes / 10);
  EXPECT_LT(allowed, probes - probes / 10);
}

/// Questions over whole workloads (several pods per side): Z3's answer must agree with the
/// matrix enumerated pair by pair, and an ALLOW's witness must be allowed by the evaluator.
TEST_P(Differential, WorkloadQuestionsAgreeWithTheMatrix) {
  int shard = GetParam();
  size_t asked = 0, allowed = 0;
  for (uint64_t seed = static_cast<uint64_t>(shard) * kSeedsPerShard + 1;
       seed <= static_cast<uint64_t>(shard + 1) * kSeedsPerShard; ++seed) {
    std::string yaml = testing::random_cluster_yaml(seed);
    ir::DiagnosticEngine diags;
    auto res = frontend::load_text("random.yaml", yaml, diags);
    const ir::Model& m = res.model;
    if (m.endpoints.empty()) continue;
    ir::PolicyTables tables = ir::resolve_policies(m);
    verifier::Connectivity conn(m, tables);
    testing::Rng rng(seed * 7919);
    std::vector<std::string> workloads;
    for (const auto& e : m.endpoints) workloads.push_back(m.ns(e.ns).name + "/" + e.workload);
    for (size_t i = 0; i < kQuestionsPerSeed; ++i) {
      std::string text = "can " + rng.pick(workloads) + " reach " + rng.pick(workloads);
      std::optional<uint8_t> proto;
      std::optional<uint16_t> port;
      size_t k = rng.below(4);
      if (k == 1) {
        port = std::vector<uint16_t>{80, 53, 5432, 8080, 9090, 443}[rng.below(6)];
        proto = 6;
        text += ":" + std::to_string(*port);
      } else if (k == 2) {
        proto = 17;
        text += "/udp";
      }
      auto q = frontend::parse_query(text, frontend::QueryMode::Question, ir::SourceLoc{1, 1, 1}, diags);
      ASSERT_TRUE(q) << text;
      auto rq = verifier::resolve_reach(m, *q, diags);
      ASSERT_TRUE(rq) << text;
      auto z = verifier::check_reach(m, *rq);
      ASSERT_TRUE(z) << text << ": " << z.error().message;
      ++asked;
      allowed += z->allowed;
      // Enumerate the pairs with the matrix.
      auto single = [](const verifier::EndpointSet& s) { return s.candidates.size() == 1; };
      bool same_single = single(rq->src) && single(rq->dst) && rq->src.candidates[0].ep == rq->dst.candidates[0].ep;
      bool any_pair = false;
      for (const auto& sc : rq->src.candidates)
        for (const auto& dc : rq->dst.candidates) {
          if (same_single) {  // a pod to itself, or a host-network pod's node to itself: no policy
            any_pair = true;
            continue;
          }
          if (sc.ep == dc.ep) continue;  // two different pods of the question
          uint32_t gs = conn.group_of_endpoint(sc.ep), gd = conn.group_of_endpoint(dc.ep);
          if (!conn.allowed(gs, gd).restrict(proto, port).empty()) any_pair = true;
        }
      EXPECT_EQ(z->allowed, any_pair) << "seed " << seed << ": " << text << "\n--- random.yaml ---\n" << yaml;
      if (z->allowed) {
        auto s = z->packet.src.address(), d = z->packet.dst.address();
        ASSERT_TRUE(s && d);
        ir::Probe witness{*s, *d, z->packet.proto, z->packet.port, z->packet.http};
        EXPECT_TRUE(ir::evaluate(m, witness).allowed)
            << "seed " << seed << ": " << text << ": witness " << testing::probe_str(m, witness) << " is denied";
      }
    }
  }
  EXPECT_GT(allowed, 0u);
  EXPECT_LT(allowed, asked);
}

/// The matrix (computed once per behavior, aggregated per workload) equals the plain
/// aggregation over every pair of connectivity groups, whose cells the probes above check.
TEST_P(Differential, MatrixEqualsThePairwiseAggregation) {
  int shard = GetParam();
  for (uint64_t seed = static_cast<uint64_t>(shard) * kSeedsPerShard + 1;
       seed <= static_cast<uint64_t>(shard + 1) * kSeedsPerShard; ++seed) {
    std::string yaml = testing::random_cluster_yaml(seed);
    ir::DiagnosticEngine diags;
    auto res = frontend::load_text("random.yaml", yaml, diags);
    const ir::Model& m = res.model;
    ir::PolicyTables tables = ir::resolve_policies(m);
    verifier::Connectivity conn(m, tables);
    verifier::MatrixOptions opt;
    if (seed % 3 == 0) opt.ports = verifier::PortSet::single(6, 80);
    auto cells = verifier::connectivity_matrix(conn, m, opt);
    std::map<std::pair<std::string, std::string>, std::pair<verifier::PortSet, bool>> naive;
    const auto& gs = conn.groups();
    for (uint32_t a = 0; a < gs.size(); ++a)
      for (uint32_t b = 0; b < gs.size(); ++b) {
        if (conn.self_only(a, b)) continue;
        if (gs[a].kind != verifier::Group::Kind::Pods && gs[b].kind != verifier::Group::Kind::Pods) continue;
        verifier::PortSet ps = conn.allowed(a, b);
        if (opt.ports) ps = ps.intersect(*opt.ports);
        auto [it, fresh] = naive.try_emplace({gs[a].workload, gs[b].workload}, ps, true);
        if (!fresh) {
          if (it->second.first.str() != ps.str()) it->second.second = false;
          it->second.first.unite(ps);
        }
      }
    std::map<std::pair<std::string, std::string>, std::string> want, got;
    for (const auto& [k, v] : naive)
      if (!v.first.empty()) want[k] = v.first.str() + (v.second ? "" : " (not uniform)");
    for (const auto& c : cells) got[{c.src, c.dst}] = c.ports.str() + (c.uniform ? "" : " (not uniform)");
    EXPECT_EQ(want, got) << "seed " << seed;
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, Differential, ::testing::Range(0, kShards));

}  // namespace
}  // namespace polc
