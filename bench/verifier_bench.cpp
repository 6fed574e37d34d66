// polc_verifier_bench: how the verifier scales. Generates large random clusters with the shared
// generator (tests/support) and reports load time, single-query latency (Z3, after load), the
// full connectivity matrix time and peak memory. Targets (issue 4): matrix at 1,000 pods / 500
// policies under 1 s, one query under 10 ms, 10,000 pods / 5,000 policies in seconds.
//
//   polc_verifier_bench                 both sizes, 100 queries each
//   polc_verifier_bench --small         1,000 pods / 50 namespaces / 500 policies only
//   polc_verifier_bench --size 3000,60,1500   any size (pods, namespaces, policies)
//   polc_verifier_bench --queries 300
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "polc/frontend/loader.h"
#include "polc/frontend/query_parser.h"
#include "polc/ir/evaluator.h"
#include "polc/ir/policy_tables.h"
#include "polc/verifier/connectivity.h"
#include "polc/verifier/reach.h"
#include "random_model.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace polc;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

/// CPU time of this thread (stable when other processes compete for the cores).
double cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux: KiB
}

struct Stats {
  double median = 0, p90 = 0, max = 0;
};

Stats stats(std::vector<double> v) {
  Stats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.median = v[v.size() / 2];
  s.p90 = v[std::min(v.size() - 1, v.size() * 9 / 10)];
  s.max = v.back();
  return s;
}

struct Size {
  size_t pods, namespaces, policies;
};

int run(const Size& size, size_t queries, uint64_t seed) {
  std::printf("== %zu pods / %zu namespaces / %zu policies (seed %llu)\n", size.pods, size.namespaces, size.policies,
              static_cast<unsigned long long>(seed));
  auto t = Clock::now();
  std::string yaml =
      testing::random_cluster_yaml(seed, testing::RandomOptions::large(size.pods, size.namespaces, size.policies));
  std::printf("  generate YAML          %9.1f ms  (%.1f MB)\n", ms_since(t), static_cast<double>(yaml.size()) / 1e6);

  t = Clock::now();
  double c0 = cpu_ms();
  ir::DiagnosticEngine diags(1000000);
  auto res = frontend::load_text("bench.yaml", yaml, diags);
  double load = ms_since(t), load_cpu = cpu_ms() - c0;
  const ir::Model& m = res.model;
  if (diags.has_errors()) {
    std::fprintf(stderr, "the generated cluster has errors\n");
    return 1;
  }
  std::printf("  load (parse + IR)      %9.1f ms  (cpu %.1f ms)  %zu pods, %zu identities, %zu policies, %zu rules\n",
              load, load_cpu, m.endpoints.size(), m.identities.size(), m.policies.size(), m.rules.size());

  // Single questions after load: one context each, exactly as `polc query` answers them.
  testing::Rng rng(seed * 31 + 7);
  std::vector<ir::EndpointId> pods;
  for (const auto& e : m.endpoints)
    if (!e.host_network) pods.push_back(e.id);
  std::vector<uint16_t> ports{80, 443, 5432, 8080, 53, 9090};
  std::vector<double> pod_ms, probe_ms, workload_ms, pod_cpu;
  size_t allowed = 0, mismatches = 0, rules = 0;
  for (size_t i = 0; i < queries; ++i) {
    const ir::Endpoint& a = m.endpoint(rng.pick(pods));
    const ir::Endpoint& b = m.endpoint(rng.pick(pods));
    uint16_t port = rng.pick(ports);
    // 1. A pod-to-pod question with witness, explanation and counterexample search.
    std::string text = "can " + m.endpoint_name(a.id) + " reach " + m.endpoint_name(b.id) + ":" + std::to_string(port);
    ir::DiagnosticEngine qd;
    t = Clock::now();
    double qc = cpu_ms();
    auto q = frontend::parse_query(text, frontend::QueryMode::Question, ir::SourceLoc{1, 1, 1}, qd);
    auto rq = verifier::resolve_reach(m, *q, qd);
    auto ans = verifier::check_reach(m, *rq);
    pod_ms.push_back(ms_since(t));
    pod_cpu.push_back(cpu_ms() - qc);
    if (!ans) {
      std::fprintf(stderr, "%s: %s\n", text.c_str(), ans.error().message.c_str());
      return 1;
    }
    allowed += ans->allowed;
    rules += ans->rules_encoded;
    ir::Probe p{ir::Address::pod(a.id), ir::Address::pod(b.id), 6, port, std::nullopt};
    if (ir::evaluate(m, p).allowed != ans->allowed) ++mismatches;
    // 2. The verdict only (batch mode).
    verifier::ReachOptions fast;
    fast.explain = false;
    fast.unsat_core = false;
    t = Clock::now();
    auto v = verifier::check_probe(m, p, fast);
    probe_ms.push_back(ms_since(t));
    // 3. Workload to workload, any port.
    std::string wtext = "can " + m.ns(a.ns).name + "/" + a.workload + " reach " + m.ns(b.ns).name + "/" + b.workload;
    t = Clock::now();
    auto wq = frontend::parse_query(wtext, frontend::QueryMode::Question, ir::SourceLoc{1, 1, 1}, qd);
    auto wrq = verifier::resolve_reach(m, *wq, qd);
    auto wans = verifier::check_reach(m, *wrq);
    workload_ms.push_back(ms_since(t));
    (void)v;
    (void)wans;
  }
  auto s1 = stats(pod_ms), s2 = stats(probe_ms), s3 = stats(workload_ms), s4 = stats(pod_cpu);
  std::printf(
      "  query pod->pod:port    median %6.2f ms  p90 %6.2f  max %7.2f  (cpu median %.2f ms; %zu questions, "
      "%zu allowed, %.0f rules encoded on average, %zu disagreements with the evaluator)\n",
      s1.median, s1.p90, s1.max, s4.median, queries, allowed, queries ? static_cast<double>(rules) / queries : 0.0,
      mismatches);
  std::printf("  verdict only (batch)   median %6.2f ms  p90 %6.2f  max %7.2f\n", s2.median, s2.p90, s2.max);
  std::printf("  workload->workload     median %6.2f ms  p90 %6.2f  max %7.2f  (any port, witness + explanation)\n",
              s3.median, s3.p90, s3.max);

  // The full matrix.
  t = Clock::now();
  double mc = cpu_ms();
  ir::PolicyTables tables = ir::resolve_policies(m);
  double tables_ms = ms_since(t), tables_cpu = cpu_ms() - mc;
  t = Clock::now();
  mc = cpu_ms();
  verifier::Connectivity conn(m, tables);
  std::vector<std::string> names;
  auto cells = verifier::connectivity_matrix(conn, m, {}, &names);
  double matrix_ms = ms_since(t), matrix_cpu = cpu_ms() - mc;
  std::printf(
      "  full matrix            %9.1f ms  (cpu %.1f ms; policy tables %.1f ms + matrix %.1f ms): %zu classes, "
      "%zu contexts, %zu groups, %zu rows, %zu allowed cells\n",
      tables_ms + matrix_ms, tables_cpu + matrix_cpu, tables_ms, matrix_ms, tables.classes.size(),
      tables.contexts.size(), conn.groups().size(), names.size(), cells.size());
  // The answers checked: random probes (pods, nodes, world, every protocol) through the tables
  // against the reference evaluator, and pod-to-pod ones against the matrix cells.
  std::map<std::pair<std::string, std::string>, const verifier::MatrixCell*> by_pair;
  for (const auto& c : cells) by_pair[{c.src, c.dst}] = &c;
  size_t checked = 0, table_wrong = 0, matrix_wrong = 0;
  for (const auto& p : testing::random_probes(m, seed, 3000)) {
    bool truth = ir::evaluate(m, p).allowed;
    ++checked;
    if (tables.allowed(m, p) != truth) ++table_wrong;
    if (p.http) continue;  // the matrix is L4
    const auto* sa = std::get_if<ir::EndpointId>(&p.src.v);
    const auto* da = std::get_if<ir::EndpointId>(&p.dst.v);
    if (!sa || !da || *sa == *da || m.endpoint(*sa).host_network || m.endpoint(*da).host_network) continue;
    const ir::Endpoint& a = m.endpoint(*sa);
    const ir::Endpoint& b = m.endpoint(*da);
    auto it = by_pair.find({m.ns(a.ns).name + "/" + a.workload, m.ns(b.ns).name + "/" + b.workload});
    bool in_cell = it != by_pair.end() && it->second->ports.contains(p.proto, p.port);
    bool uniform = it == by_pair.end() || it->second->uniform;
    if ((truth && !in_cell) || (!truth && in_cell && uniform)) ++matrix_wrong;
  }
  std::printf("  checked                %9zu probes: %zu disagree with the tables, %zu with the matrix\n", checked,
              table_wrong, matrix_wrong);
  std::printf("  peak RSS               %9.1f MB\n", peak_rss_mb());
  return mismatches == 0 && table_wrong == 0 && matrix_wrong == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  size_t queries = 100;
  bool small_only = false, large_only = false;
  std::optional<Size> custom;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--queries") && i + 1 < argc)
      queries = std::stoul(argv[++i]);
    else if (!std::strcmp(argv[i], "--small"))
      small_only = true;
    else if (!std::strcmp(argv[i], "--large"))
      large_only = true;
    else if (!std::strcmp(argv[i], "--size") && i + 1 < argc) {
      Size s{};
      if (std::sscanf(argv[++i], "%zu,%zu,%zu", &s.pods, &s.namespaces, &s.policies) != 3) {
        std::fprintf(stderr, "--size wants PODS,NAMESPACES,POLICIES\n");
        return 2;
      }
      custom = s;
    } else {
      std::fprintf(stderr, "usage: %s [--small | --large | --size PODS,NAMESPACES,POLICIES] [--queries N]\n", argv[0]);
      return 2;
    }
  }
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  int rc = 0;
  if (custom) return run(*custom, queries, 3);
  if (!large_only) rc |= run({1000, 50, 500}, queries, 1);
  if (!small_only) rc |= run({10000, 100, 5000}, queries, 2);
  return rc;
}
