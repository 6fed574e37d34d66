// BuildL7Maps: tagged DFAs agree with the regexes they come from; the l7 sets of a policy are
// encoded as the datapath reads them; what the datapath cannot hold is an error, never a silent
// allow; and the wire form of requests the datapath classifies.
#include "polc/backend_bpf/build_l7_maps.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "polc/backend_bpf/backend.h"
#include "polc/ir/policy_tables.h"
#include "random_model.h"
#include "test_util.h"

namespace polc::backend_bpf::testing {
namespace {

namespace fs = std::filesystem;

ir::Regex regex(const std::string& src) {
  ir::Model m = load_yaml("re.yaml", R"(
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default, labels: {app: a}}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: p, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress:
    - toPorts:
        - ports: [{port: "80", protocol: TCP}]
          rules:
            http:
              - path: ')" + src + R"('
)");
  for (const auto& r : m.rules)
    for (const auto& g : r.ports)
      for (const auto& h : g.http)
        if (h.path) return *h.path;
  ADD_FAILURE() << "no path regex parsed from " << src;
  return {};
}

TEST(BuildTaggedDfa, AgreesWithEachRegex) {
  const std::vector<std::string> sources = {"/api/v1/.*", "/api/v[12]/items", "/users/[0-9]+", "/public(/.*)?", "/",
                                            "/a.c",       "GET|HEAD",         "[A-Z]+"};
  std::vector<ir::Regex> res;
  for (const auto& s : sources) res.push_back(regex(s));
  std::vector<TaggedPart> parts;
  for (size_t i = 0; i < res.size(); ++i) parts.push_back(TaggedPart{res[i].root.get(), uint64_t(1) << i});
  auto dfa = build_tagged_dfa(parts);
  ASSERT_TRUE(dfa);
  polc::testing::Rng rng(7);
  const std::string alphabet = "/apiv12tem0s9ubcGETHADX.?";
  std::vector<std::string> inputs = {"",        "/",         "/api/v1/", "/api/v1/x", "/api/v2/items",
                                     "/users/", "/users/12", "/public",  "/public/",  "/abc",
                                     "/a/c",    "GET",       "HEAD",     "GETX",      "get"};
  for (int i = 0; i < 3000; ++i) {
    std::string s;
    size_t n = rng.below(14);
    for (size_t k = 0; k < n; ++k) s += alphabet[rng.below(alphabet.size())];
    inputs.push_back(s);
  }
  for (const auto& in : inputs) {
    uint64_t want = 0;
    for (size_t i = 0; i < res.size(); ++i)
      if (res[i].full_match(in)) want |= uint64_t(1) << i;
    EXPECT_EQ(dfa->run(in), want) << "'" << in << "'";
  }
}

TEST(BuildTaggedDfa, IsMinimalAndBounded) {
  ir::Regex a = regex("/x"), b = regex("/(x)");
  auto dfa = build_tagged_dfa({{a.root.get(), 1}, {b.root.get(), 2}});
  ASSERT_TRUE(dfa);
  EXPECT_EQ(dfa->size(), 4u) << "start, after '/', accepting, dead";
  ir::Regex big = regex("(a|b)*a(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)(a|b)");
  EXPECT_FALSE(build_tagged_dfa({{big.root.get(), 1}}, 256)) << "2^11 states do not fit in 256";
}

TEST(BuildL7Maps, EncodesTheSampleSet) {
  ir::Model m = load_dir(fs::path(POLC_SOURCE_DIR) / "samples" / "l7-api");
  ir::PolicyTables t = ir::resolve_policies(m);
  ir::DiagnosticEngine diags;
  auto l7 = build_l7_maps(m, t, diags);
  ASSERT_TRUE(l7.ok());
  EXPECT_TRUE(l7->enabled);
  ASSERT_EQ(t.l7_sets.size(), 2u);
  ASSERT_EQ(l7->sets.entries.size(), 1u);
  polc_l7_set s{};
  std::memcpy(&s, l7->sets.entries[0].value.data(), sizeof s);
  EXPECT_EQ(s.all, 3u) << "two HTTP matches";
  EXPECT_EQ(s.free[POLC_L7_METHOD], 0u);
  EXPECT_EQ(s.free[POLC_L7_HOST], 3u) << "no host in either match";
  EXPECT_EQ(s.dfa[POLC_L7_HOST], POLC_NONE);
  EXPECT_EQ(s.dfa[POLC_L7_HEADER], POLC_NONE);
  ASSERT_NE(s.dfa[POLC_L7_METHOD], POLC_NONE);
  ASSERT_NE(s.dfa[POLC_L7_PATH], POLC_NONE);
  // Walk the stored DFAs as the datapath does.
  std::vector<polc_dfa_state> states(l7->dfa.entries.size());
  for (size_t i = 0; i < states.size(); ++i) std::memcpy(&states[i], l7->dfa.entries[i].value.data(), sizeof states[i]);
  EXPECT_EQ(l7->dfa.used, states.size());
  auto run = [&](uint32_t start, std::string_view in) {
    uint32_t st = start;
    for (unsigned char c : in) st = states.at(st).next[c];
    return states.at(st).accept;
  };
  uint32_t method = s.dfa[POLC_L7_METHOD], path = s.dfa[POLC_L7_PATH];
  EXPECT_EQ(run(method, "GET") & run(path, "/api/v1/users"), 1u);
  EXPECT_EQ(run(method, "POST") & run(path, "/api/v1/users"), 2u);
  EXPECT_EQ(run(method, "POST") & run(path, "/api/v1/users/1"), 0u);
  EXPECT_EQ(run(method, "DELETE"), 0u);
  EXPECT_EQ(run(path, "/admin"), 0u);
}

TEST(BuildL7Maps, NoHttpRulesNoL7Code) {
  ir::Model m = load_dir(fs::path(POLC_SOURCE_DIR) / "samples" / "demo");
  ir::PolicyTables t = ir::resolve_policies(m);
  ir::DiagnosticEngine diags;
  auto l7 = build_l7_maps(m, t, diags);
  ASSERT_TRUE(l7.ok());
  EXPECT_FALSE(l7->enabled);
  CapacityPlan plan;
  plan_l7_capacity(plan, *l7);
  EXPECT_TRUE(plan.maps.empty());
  EXPECT_EQ(plan.build_config.find("POLC_FEATURE_L7"), std::string::npos);
}

TEST(BuildL7Maps, TooManyMatchesIsAnErrorNotAnAllow) {
  std::string yaml = R"(
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: default, labels: {app: a}}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: p, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: a}}
  ingress:
    - toPorts:
        - ports: [{port: "80", protocol: TCP}]
          rules:
            http:
)";
  for (int i = 0; i < 65; ++i) yaml += "              - path: '/p" + std::to_string(i) + "'\n";
  ir::Model m = load_yaml("many.yaml", yaml);
  ir::DiagnosticEngine diags;
  auto out = compile_policy(m, {}, diags);
  EXPECT_FALSE(out.ok());
  ASSERT_TRUE(diags.has_errors());
  EXPECT_EQ(diags.diagnostics()[0].id, ir::DiagId::DatapathUnsupported);
  EXPECT_NE(diags.diagnostics()[0].message.find("65 HTTP rules"), std::string::npos);
}

TEST(CompilePolicy, HttpRulesAreEnforcedNotWarnedAbout) {
  ir::Model m = load_dir(fs::path(POLC_SOURCE_DIR) / "samples" / "l7-api");
  ir::DiagnosticEngine diags;
  CompileOptions opt;
  opt.emit = Emit::Asm;
  auto out = compile_policy(m, opt, diags);
  ASSERT_TRUE(out.ok());
  for (const auto& d : diags.diagnostics()) EXPECT_NE(d.id, ir::DiagId::L7NotEnforced);
  EXPECT_FALSE(diags.has_errors());
  const auto& layout = out->nodes[0].layout;
  std::set<std::string> maps;
  for (const auto& mp : layout["maps"]) maps.insert(mp["name"]);
  for (const char* name : {"polc_l7_sets", "polc_http_dfa", "polc_l7_stats", "polc_l7_scratch"})
    EXPECT_TRUE(maps.count(name)) << name;
  bool reported = false;
  for (const auto& c : layout["capacity"]["maps"]) reported = reported || c["map"] == "polc_http_dfa";
  EXPECT_TRUE(reported) << "the capacity report lists the DFA map";
  // The HTTP code is bounded: the parser's only loops are bpf_loop callbacks.
  const std::string& text = out->nodes[0].text;
  EXPECT_NE(text.find("polc_l7_enforce"), std::string::npos);
  EXPECT_NE(text.find("polc_l7_step"), std::string::npos);
}

TEST(HttpRequestBytes, WhatTheDatapathClassifies) {
  auto bytes = http_request_bytes({"GET", "/api/v1/users?x=1", "api.example.com", {{"X-Token", "abc"}}});
  ASSERT_TRUE(bytes);
  EXPECT_EQ(*bytes, "GET /api/v1/users?x=1 HTTP/1.1\r\nHost: api.example.com\r\nX-Token: abc\r\n\r\n");
  EXPECT_TRUE(http_request_bytes({"DELETE", "/a%20b/...", "", {}}));
  for (const ir::HttpRequest& r : std::vector<ir::HttpRequest>{
           {"get", "/", "", {}},
           {"G-T", "/", "", {}},
           {"PRI", "/", "", {}},
           {"", "/", "", {}},
           {"GET", "", "", {}},
           {"GET", "x", "", {}},
           {"GET", "/a/../b", "", {}},
           {"GET", "/a/./b", "", {}},
           {"GET", "/a//b", "", {}},
           {"GET", "/a/..", "", {}},
           {"GET", "/%2e", "", {}},
           {"GET", "/%2F", "", {}},
           {"GET", "/%41", "", {}},
           {"GET", "/%4", "", {}},
           {"GET", "/a b", "", {}},
           {"GET", "/a#b", "", {}},
           {"GET", "/a\\b", "", {}},
           {"GET", "/", " h", {}},
           {"GET", "/", "", {{"Host", "x"}}},
           {"GET", "/", "", {{"Content-Length", "1"}}},
           {"GET", "/", "", {{"X A", "1"}}},
           {"GET", "/", "", {{"X", ""}}},
           {"GET", "/", "", {{"X", "a\r\nb"}}},
       })
    EXPECT_FALSE(http_request_bytes(r)) << r.method << " " << r.path << " host=" << r.host;
}

}  // namespace
}  // namespace polc::backend_bpf::testing
