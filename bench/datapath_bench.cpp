// Datapath benchmark: nanoseconds per packet (BPF_PROG_TEST_RUN with repeat) of the compiled
// polc programs for policy sets of 10, 1,000 and 100,000 rules, beside an empty tc program in
// the same run, and the compile time of 1,000 policies. Needs root (BPF).
//
//   polc_datapath_bench [--rules 10,1000,100000] [--repeat 2000000] [--rounds 5]
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "../tests/backend/datapath_harness.h"
#include "polc/backend_bpf/backend.h"
#include "polc/frontend/loader.h"

namespace {

using namespace polc;
using backend_bpf::testing::build_packet;
using backend_bpf::testing::Datapath;
using backend_bpf::testing::Packet;
using Clock = std::chrono::steady_clock;

constexpr int kNamespaces = 10;
constexpr int kApps = 10;  // per namespace: 100 workloads, 2 replicas each, on 2 nodes
constexpr int kSubjects = kNamespaces * kApps;

std::string app_name(int s) {
  return "app" + std::to_string(s % kApps);
}
std::string ns_name(int s) {
  return "ns" + std::to_string(s / kApps);
}

/// A policy set of exactly `rules` ingress rules. Rule r: pods of workload r % 100 accept TCP
/// port 1000 + (13 r mod 20000) from one other workload. Up to 100 rules: one policy per rule;
/// beyond: one policy per workload holding its rules.
std::string cluster_yaml(size_t rules) {
  std::ostringstream y;
  y << "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: InternalIP, address: "
       "192.168.65.2}]}\n---\n";
  y << "apiVersion: v1\nkind: Node\nmetadata: {name: n2}\nstatus: {addresses: [{type: InternalIP, address: "
       "192.168.65.3}]}\n";
  for (int n = 0; n < kNamespaces; ++n) y << "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns" << n << "}\n";
  for (int s = 0; s < kSubjects; ++s)
    for (int r = 0; r < 2; ++r)
      y << "---\napiVersion: v1\nkind: Pod\nmetadata: {name: " << app_name(s) << "-" << r
        << ", namespace: " << ns_name(s) << ", labels: {app: " << app_name(s) << "}}\nspec: {nodeName: n" << (r + 1)
        << "}\nstatus: {podIP: 10.10." << s << "." << (r + 10) << "}\n";
  auto peer_of = [](size_t r) { return static_cast<int>((r % kSubjects + 1 + (r / kSubjects) * 7) % kSubjects); };
  auto port_of = [](size_t r) { return 1000 + static_cast<int>((r * 13) % 20000); };
  auto rule_text = [&](size_t r) {
    int p = peer_of(r);
    std::ostringstream t;
    t << "    - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: " << ns_name(p)
      << "}}, podSelector: {matchLabels: {app: " << app_name(p) << "}}}]\n      ports: [{port: " << port_of(r)
      << "}]\n";
    return t.str();
  };
  if (rules <= kSubjects) {
    for (size_t r = 0; r < rules; ++r) {
      int s = static_cast<int>(r % kSubjects);
      y << "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p" << r
        << ", namespace: " << ns_name(s) << "}\nspec:\n  podSelector: {matchLabels: {app: " << app_name(s)
        << "}}\n  ingress:\n"
        << rule_text(r);
    }
  } else {
    for (int s = 0; s < kSubjects; ++s) {
      y << "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p" << s
        << ", namespace: " << ns_name(s) << "}\nspec:\n  podSelector: {matchLabels: {app: " << app_name(s)
        << "}}\n  ingress:\n";
      for (size_t r = static_cast<size_t>(s); r < rules; r += kSubjects) y << rule_text(r);
    }
  }
  return y.str();
}

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

struct Compiled {
  ir::Model model;
  backend_bpf::CompileOutput out;
  double load_ms = 0, compile_ms = 0;
  size_t rules = 0;
};

Compiled compile(size_t rules) {
  Compiled c;
  std::string yaml = cluster_yaml(rules);
  auto t0 = Clock::now();
  ir::DiagnosticEngine diags;
  auto res = frontend::load_text("bench.yaml", yaml, diags);
  c.load_ms = ms_since(t0);
  if (diags.has_errors()) throw std::runtime_error("the generated policy does not load");
  c.model = std::move(res.model);
  c.rules = c.model.rules.size();
  auto t1 = Clock::now();
  auto out = backend_bpf::compile_policy(c.model, {}, diags);
  c.compile_ms = ms_since(t1);
  if (!out) throw std::runtime_error("compile failed: " + out.error().message);
  c.out = std::move(*out);
  return c;
}

/// The median over rounds of the average ns per run.
double measure(int prog_fd, const std::vector<uint8_t>& frame, uint32_t repeat, int rounds) {
  std::vector<double> v;
  for (int i = 0; i < rounds; ++i) {
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_size_in = static_cast<uint32_t>(frame.size()),
                .repeat = static_cast<int>(repeat));
    if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) throw std::runtime_error("BPF_PROG_TEST_RUN failed");
    v.push_back(opts.duration);
  }
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int empty_program() {
  struct bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},  // r0 = TC_ACT_OK
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "polc_empty", "GPL", insns, 2, nullptr);
  if (fd < 0) throw std::runtime_error("cannot load the empty program");
  return fd;
}

uint32_t ip(const std::string& s) {
  return ir::Ipv4::parse(s)->value;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes = {10, 1000, 100000};
  uint32_t repeat = 2000000;
  int rounds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--rules") {
      sizes.clear();
      std::stringstream ss(argv[i + 1]);
      for (std::string x; std::getline(ss, x, ',');) sizes.push_back(std::stoul(x));
    } else if (a == "--repeat") {
      repeat = static_cast<uint32_t>(std::stoul(argv[i + 1]));
    } else if (a == "--rounds") {
      rounds = std::stoi(argv[i + 1]);
    } else {
      std::cerr << "usage: polc_datapath_bench [--rules 10,1000,100000] [--repeat N] [--rounds N]\n";
      return 2;
    }
  }
  libbpf_set_print([](enum libbpf_print_level level, const char* fmt, va_list args) {
    return level == LIBBPF_WARN ? vfprintf(stderr, fmt, args) : 0;
  });

  try {
    // Compile time of 1,000 policies first, while the compiler's cache is cold.
    {
      Compiled c = compile(1000);
      std::printf("compile 1,000 policies (%zu rules, %zu pods, 2 nodes): load %.0f ms + compile %.0f ms = %.0f ms\n",
                  c.rules, c.model.endpoints.size(), c.load_ms, c.compile_ms, c.load_ms + c.compile_ms);
    }

    int empty_fd = empty_program();
    std::printf("\n%-9s %-28s %10s %10s %14s\n", "rules", "path", "ns/packet", "x empty", "ns over empty");
    std::vector<std::pair<size_t, std::vector<double>>> results;
    for (size_t n : sizes) {
      Compiled c = compile(n);
      // Pod app0-0 (ns0, node n1) accepts port 1000 from app1 (rule 0) in every policy set.
      const auto& node = c.out.nodes.at(0);
      std::string err;
      auto dp = Datapath::load(node.object, &err);
      if (!dp) throw std::runtime_error(err);
      dp->fill(node.layout);
      polc_config cfg = dp->config();
      cfg.flags &= ~uint32_t(POLC_CFG_EVENTS_ALLOWED | POLC_CFG_EVENTS_DROPPED);
      int to_pod = bpf_program__fd(bpf_object__find_program_by_name(dp->object(), "polc_to_pod"));

      Packet allowed;
      allowed.saddr = ip("10.10.1.10");  // ns0/app1-0
      allowed.daddr = ip("10.10.0.10");  // ns0/app0-0
      allowed.sport = 40000;
      allowed.dport = 1000;
      Packet denied = allowed;
      denied.dport = 999;
      Packet world = allowed;
      world.saddr = ip("8.8.8.8");
      auto allowed_f = build_packet(allowed), denied_f = build_packet(denied), world_f = build_packet(world);
      if (dp->run("polc_to_pod", allowed_f) != 0 || dp->run("polc_to_pod", denied_f) != 2)
        throw std::runtime_error("the benchmark packets do not get the expected verdicts");

      double e = measure(empty_fd, allowed_f, repeat, rounds);
      std::vector<double> row;
      auto report = [&](const char* path, double ns) {
        std::printf("%-9zu %-28s %10.1f %10.2f %14.1f\n", c.rules, path, ns, ns / e, ns - e);
        row.push_back(ns);
      };
      std::printf("%-9zu %-28s %10.1f %10.2f %14.1f\n", c.rules, "empty tc program", e, 1.0, 0.0);
      cfg.flags |= POLC_CFG_NO_CONNTRACK;  // every packet through the policy tables
      dp->set_config(cfg);
      report("policy: allowed (new flow)", measure(to_pod, allowed_f, repeat, rounds));
      report("policy: denied", measure(to_pod, denied_f, repeat, rounds));
      report("policy: world peer (LPM)", measure(to_pod, world_f, repeat, rounds));
      cfg.flags &= ~uint32_t(POLC_CFG_NO_CONNTRACK);
      dp->set_config(cfg);
      dp->run("polc_to_pod", allowed_f);  // opens the connection
      report("conntrack: established", measure(to_pod, allowed_f, repeat, rounds));
      size_t policy_entries = 0, verdicts = 0;
      for (const auto& m : node.layout["maps"]) {
        if (m["name"] == "polc_policy") policy_entries = m["used"];
        if (m["name"] == "polc_verdicts") verdicts = m["used"];
      }
      std::printf("%-9s (node n1: %zu policy entries, %zu verdicts; load %.0f ms, compile %.0f ms)\n", "",
                  policy_entries, verdicts, c.load_ms, c.compile_ms);
      results.emplace_back(c.rules, row);
    }
    if (results.size() >= 2) {
      std::printf("\ncost growth from %zu to %zu rules (ns/packet ratio):\n", results.front().first,
                  results.back().first);
      const char* names[] = {"policy: allowed", "policy: denied", "policy: world peer (LPM)", "conntrack: established"};
      for (size_t i = 0; i < results.front().second.size(); ++i)
        std::printf("  %-28s %.2fx\n", names[i], results.back().second[i] / results.front().second[i]);
    }
    close(empty_fd);
  } catch (const std::exception& ex) {
    std::cerr << "polc_datapath_bench: " << ex.what() << "\n";
    return 1;
  }
  return 0;
}
