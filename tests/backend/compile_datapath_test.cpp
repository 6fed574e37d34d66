// CompileDatapath: the embedded datapath compiles in-process to LLVM IR, BPF assembly and an
// ELF object; properties of the code checked on --emit=asm, FileCheck-style: one policy-map
// and one verdict-map lookup per judgement, no loops at all, a bounded number of map lookups.
#include "polc/backend_bpf/compile_datapath.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <regex>
#include <sstream>

namespace polc::backend_bpf::testing {
namespace {

const std::string kConfig = "#define POLC_CAP_POLICY 4096u\n";

/// The assembly split into functions: name -> instruction lines (labels kept).
std::map<std::string, std::vector<std::string>> functions(const std::string& asm_text) {
  std::map<std::string, std::vector<std::string>> out;
  std::regex start(R"(^([A-Za-z_][A-Za-z0-9_]*):\s+# @\1)");
  std::istringstream in(asm_text);
  std::string line, current;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, start)) {
      current = m[1];
      continue;
    }
    if (line.rfind(".Lfunc_end", 0) == 0) current.clear();
    if (!current.empty()) out[current].push_back(line);
  }
  return out;
}

size_t count(const std::vector<std::string>& lines, const std::string& needle) {
  size_t n = 0;
  for (const auto& l : lines) {
    auto code = l.substr(0, l.find('#'));
    if (code.find(needle) != std::string::npos) ++n;
  }
  return n;
}

/// A function's control-flow graph: basic blocks split at labels and after jumps and `exit`
/// (`call` does not end a block), with their instructions and successors.
struct Cfg {
  std::vector<std::vector<std::string>> blocks;
  std::vector<std::vector<size_t>> succ;
  std::vector<std::string> last_jump;
};

Cfg build_cfg(const std::vector<std::string>& lines) {
  std::regex label(R"(^(LBB[0-9_]+):)"), jump(R"(goto (LBB[0-9_]+))");
  std::vector<std::string> code;  // instructions and labels only
  for (const auto& l : lines) {
    std::string c = l.substr(0, l.find('#'));
    auto first = c.find_first_not_of(" \t");
    if (first == std::string::npos || c[first] == '.') continue;  // directives
    c = c.substr(first);
    while (!c.empty() && (c.back() == ' ' || c.back() == '\t')) c.pop_back();
    code.push_back(c);
  }
  std::map<std::string, size_t> block_of_label;
  std::vector<size_t> starts{0};
  for (size_t i = 0; i < code.size(); ++i) {
    std::smatch m;
    if (std::regex_search(code[i], m, label)) {
      if (starts.back() != i) starts.push_back(i);
      block_of_label[m[1]] = starts.size() - 1;
    } else if ((code[i].find("goto ") != std::string::npos || code[i] == "exit") && i + 1 < code.size()) {
      starts.push_back(i + 1);
    }
  }
  Cfg g;
  const size_t n = starts.size();
  g.blocks.resize(n);
  g.succ.resize(n);
  g.last_jump.resize(n);
  for (size_t b = 0; b < n; ++b) {
    size_t end = b + 1 < n ? starts[b + 1] : code.size();
    g.blocks[b].assign(code.begin() + static_cast<long>(starts[b]), code.begin() + static_cast<long>(end));
    if (end == starts[b]) continue;
    const std::string& last = code[end - 1];
    std::smatch m;
    bool falls = last != "exit";
    if (std::regex_search(last, m, jump)) {
      auto it = block_of_label.find(m[1]);
      if (it != block_of_label.end()) g.succ[b].push_back(it->second);
      g.last_jump[b] = last;
      if (last.rfind("goto ", 0) == 0) falls = false;  // unconditional
    }
    if (falls && b + 1 < n) g.succ[b].push_back(b + 1);
  }
  return g;
}

/// Cycles reachable from the entry (each one is a loop): one closing jump per cycle found.
std::vector<std::string> loops(const std::vector<std::string>& lines) {
  Cfg g = build_cfg(lines);
  const size_t n = g.blocks.size();
  std::vector<int> state(n, 0);  // 0 new, 1 on stack, 2 done
  std::vector<std::string> out;
  std::vector<std::pair<size_t, size_t>> stack{{0, 0}};
  state[0] = 1;
  while (!stack.empty()) {
    auto& [b, i] = stack.back();
    if (i < g.succ[b].size()) {
      size_t s = g.succ[b][i++];
      if (state[s] == 1) out.push_back(g.last_jump[b].empty() ? "fallthrough" : g.last_jump[b]);
      if (state[s] == 0) {
        state[s] = 1;
        stack.emplace_back(s, 0);
      }
    } else {
      state[b] = 2;
      stack.pop_back();
    }
  }
  return out;
}

/// The largest number of instructions containing `needle` on any path from the entry to an
/// exit (the graph must be acyclic: see loops()).
size_t max_on_path(const std::vector<std::string>& lines, const std::string& needle) {
  Cfg g = build_cfg(lines);
  const size_t n = g.blocks.size();
  std::vector<long> best(n, -1);  // memo: most hits from block b to an exit
  std::function<long(size_t)> go = [&](size_t b) -> long {
    if (best[b] >= 0) return best[b];
    long here = 0;
    for (const auto& ins : g.blocks[b]) here += ins.find(needle) != std::string::npos;
    long after = 0;
    for (size_t s : g.succ[b]) after = std::max(after, go(s));
    return best[b] = here + after;
  };
  return n ? static_cast<size_t>(go(0)) : 0;
}

class CompiledAsm : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto r = compile_datapath(kConfig, Emit::Asm);
    ASSERT_TRUE(r.ok()) << r.error().message;
    text_ = new std::string(std::move(*r));
    fns_ = new std::map<std::string, std::vector<std::string>>(functions(*text_));
  }
  static void TearDownTestSuite() {
    delete text_;
    delete fns_;
  }
  static const std::vector<std::string>& fn(const std::string& name) {
    auto it = fns_->find(name);
    EXPECT_NE(it, fns_->end()) << "no function " << name;
    static const std::vector<std::string> empty;
    return it == fns_->end() ? empty : it->second;
  }
  static std::string* text_;
  static std::map<std::string, std::vector<std::string>>* fns_;
};
std::string* CompiledAsm::text_ = nullptr;
std::map<std::string, std::vector<std::string>>* CompiledAsm::fns_ = nullptr;

TEST_F(CompiledAsm, HasTheProgramsAndSubprograms) {
  for (const char* f : {"polc_from_pod", "polc_to_pod", "polc_parse", "polc_judge"}) EXPECT_FALSE(fn(f).empty()) << f;
}

TEST_F(CompiledAsm, ThePolicyAndVerdictMapsAreReadOnlyInPolcJudge) {
  for (const auto& [name, lines] : *fns_) {
    size_t policy = count(lines, "= polc_policy ll"), verdicts = count(lines, "= polc_verdicts ll");
    if (name == "polc_judge") {
      EXPECT_EQ(policy, 1u) << "exactly one polc_policy lookup per judgement";
      EXPECT_EQ(verdicts, 1u) << "exactly one polc_verdicts lookup per judgement";
    } else {
      EXPECT_EQ(policy, 0u) << name;
      EXPECT_EQ(verdicts, 0u) << name;
    }
  }
}

TEST_F(CompiledAsm, AJudgementIsFiveMapLookupsAndNothingElse) {
  const auto& judge = fn("polc_judge");
  EXPECT_EQ(count(judge, "call 1"), 5u) << "contexts, policy, functions, port classes, verdicts";
  EXPECT_EQ(count(judge, "call "), 5u) << "no other helper or function calls";
  for (const char* map : {"polc_contexts", "polc_functions", "polc_port_classes"})
    EXPECT_EQ(count(judge, std::string("= ") + map + " ll"), 1u) << map;
}

TEST_F(CompiledAsm, EachPathJudgesAtMostTwiceAndParsesOnce) {
  for (const char* prog : {"polc_from_pod", "polc_to_pod"}) {
    const auto& lines = fn(prog);
    // Along any path: one judgement for the packet, plus one only for a reply whose connection
    // predates the current policy epoch.
    EXPECT_EQ(max_on_path(lines, "call polc_judge"), 2u) << prog;
    EXPECT_EQ(max_on_path(lines, "call polc_parse"), 1u) << prog;
    // The local pod and the peer's class are looked up at most once per packet.
    EXPECT_EQ(max_on_path(lines, "= polc_endpoints ll"), 1u) << prog;
    EXPECT_EQ(max_on_path(lines, "= polc_ipcache ll"), 1u) << prog;
    EXPECT_EQ(max_on_path(lines, "= polc_ipcache_lpm ll"), 1u) << prog;
    // Conntrack: one lookup finds the connection in either direction, then a delete (revoked),
    // an update (new) and the L7 parser's re-read of the new entry; in to-pod also the mark of
    // a connection through a service. (An ICMP error's embedded packet takes one lookup and
    // ends the path.)
    EXPECT_EQ(max_on_path(lines, "= polc_ct ll"), std::string(prog) == "polc_to_pod" ? 5u : 4u) << prog;
    EXPECT_EQ(max_on_path(lines, "call 131"), 1u) << prog << ": at most one flow event";
  }
}

TEST_F(CompiledAsm, ABoundedNumberOfMapLookupsPerPacket) {
  // The worst path (a later fragment, an ICMP error whose connection is unknown, a reply and a
  // packet both revoked by a new epoch, a dropped-event count): config, fragments, 4 conntrack,
  // endpoints, ipcache, LPM, 2 revocation counts, stats, rule counter, event-lost count.
  // Independent of the policy: that is the point.
  EXPECT_EQ(max_on_path(fn("polc_judge"), "call 1"), 5u);
  // Service translation (lb.h) adds, in polc_from_pod, the service filter, service, config,
  // affinity and backend-slot lookups and, in polc_to_pod, the affinity and config lookups; the substring
  // "call 1" also counts each rewrite's checksum helpers (call 10, call 11 twice).
  // The generation check at the entry adds the generation word, the config (to-pod) and the
  // tail call to another generation (call 12, which the substring counts too).
  const std::map<std::string, size_t> bound = {{"polc_from_pod", 16 + 5 + 3 + 1}, {"polc_to_pod", 16 + 2 + 3 + 2}};
  for (const auto& [prog, max] : bound)
    EXPECT_LE(max_on_path(fn(prog), "call 1"), max) << prog << " (plus two judgements of 5)";
  // The underlay programs never consult the policy: reverse affinity, config, service filter,
  // service, affinity, backend slot, the SNAT port check; at most two rewrites (6 checksum helper calls), the
  // redirect (call 152) and the coarse clock (call 160), which the substring counts too.
  EXPECT_LE(max_on_path(fn("polc_from_underlay"), "call 1"), 7u + 6u + 1u + 1u);
  EXPECT_LE(max_on_path(fn("polc_to_underlay"), "call 1"), 2u + 3u + 1u);
  for (const char* prog : {"polc_from_underlay", "polc_to_underlay"}) {
    EXPECT_EQ(max_on_path(fn(prog), "call polc_judge"), 0u) << prog;
    EXPECT_EQ(max_on_path(fn(prog), "= polc_policy ll"), 0u) << prog;
  }
}

TEST(AsmLoops, CountsAlongTheWorstPath) {
  std::vector<std::string> diamond = {"\tif r1 == 0 goto LBB0_2",
                                      "\tcall 1",
                                      "\tcall 1",
                                      "\tgoto LBB0_3",
                                      "LBB0_2:",
                                      "\tcall 1",
                                      "LBB0_3:",
                                      "\tcall 1",
                                      "\texit"};
  EXPECT_EQ(max_on_path(diamond, "call 1"), 3u);
}

TEST(AsmLoops, FindsALoopAndAcceptsStraightLineCode) {
  std::vector<std::string> loop = {"\tr1 = 0", "LBB0_1:", "\tr1 += 1", "\tif r1 < 10 goto LBB0_1", "\texit"};
  EXPECT_EQ(loops(loop).size(), 1u);
  std::vector<std::string> back = {
      "\tif r1 == 0 goto LBB0_2", "LBB0_1:", "\tr0 = 1", "\texit", "LBB0_2:", "\tr0 = 2", "\tgoto LBB0_1"};
  EXPECT_TRUE(loops(back).empty()) << "a backward jump that closes no cycle is not a loop";
}

TEST_F(CompiledAsm, NoFunctionHasALoop) {
  for (const auto& [name, lines] : *fns_) {
    auto cycles = loops(lines);
    EXPECT_TRUE(cycles.empty()) << name << " has a loop closed by: " << (cycles.empty() ? "" : cycles.front());
  }
}

TEST(CompileDatapath, EmitsAnElfObjectWithBtf) {
  auto obj = compile_datapath(kConfig, Emit::Obj);
  ASSERT_TRUE(obj.ok()) << obj.error().message;
  ASSERT_GT(obj->size(), 1000u);
  EXPECT_EQ(obj->substr(0, 4),
            "\x7f"
            "ELF");
  EXPECT_NE(obj->find(".BTF"), std::string::npos);
  EXPECT_NE(obj->find(".maps"), std::string::npos);
}

TEST(CompileDatapath, EmitsLlvmIr) {
  auto ll = compile_datapath(kConfig, Emit::Llvm);
  ASSERT_TRUE(ll.ok()) << ll.error().message;
  EXPECT_NE(ll->find("target triple = \"bpf"), std::string::npos);
  EXPECT_NE(ll->find("define dso_local i32 @polc_from_pod"), std::string::npos);
  EXPECT_NE(ll->find("section \"tc\""), std::string::npos);
  EXPECT_NE(ll->find("@polc_policy = global"), std::string::npos);
  EXPECT_NE(ll->find("section \".maps\""), std::string::npos);
}

TEST(CompileDatapath, CapacitiesComeFromTheConfiguration) {
  auto a = compile_datapath("#define POLC_CAP_POLICY 1024u\n", Emit::Llvm);
  auto b = compile_datapath("#define POLC_CAP_POLICY 2048u\n", Emit::Llvm);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->find("[1024 x i32]"), std::string::npos);
  EXPECT_NE(b->find("[2048 x i32]"), std::string::npos);
}

TEST(CompileDatapath, ABrokenConfigurationIsAnErrorWithClangsMessage) {
  auto r = compile_datapath("#error the configuration is broken\n", Emit::Obj);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("the configuration is broken"), std::string::npos) << r.error().message;
}

TEST(CompileDatapath, ShipsItsSources) {
  auto src = datapath_sources();
  ASSERT_GE(src.size(), 3u);
  EXPECT_EQ(src[0].path, "/polc/datapath/polc_datapath.bpf.c");
  bool abi = false;
  for (const auto& f : src) abi = abi || f.path == "/polc/include/polc/backend_bpf/abi.h";
  EXPECT_TRUE(abi);
}

// The datapath with HTTP enforcement compiled in (POLC_FEATURE_L7): still no loop in any
// function (the parser's loops are bpf_loop callbacks, helper 181, whose trip count the kernel
// bounds), the policy maps still read only in polc_judge, and the L7 code reached only through
// its two global functions.
TEST(CompiledAsmL7, NoLoopAndTheParserRunsUnderBpfLoop) {
  auto r = compile_datapath(std::string(kConfig) + "#define POLC_FEATURE_L7 1\n", Emit::Asm);
  ASSERT_TRUE(r.ok()) << r.error().message;
  auto fns = functions(*r);
  for (const char* f : {"polc_l7_enforce", "polc_l7_respond", "polc_l7_step", "polc_l7_header_step"})
    EXPECT_TRUE(fns.count(f)) << f;
  for (const auto& [name, lines] : fns) {
    auto cycles = loops(lines);
    EXPECT_TRUE(cycles.empty()) << name << " has a loop closed by: " << (cycles.empty() ? "" : cycles.front());
    if (name != "polc_judge") {
      EXPECT_EQ(count(lines, "= polc_policy ll"), 0u) << name;
      EXPECT_EQ(count(lines, "= polc_verdicts ll"), 0u) << name;
    }
  }
  EXPECT_EQ(max_on_path(fns["polc_l7_enforce"], "call 181"), 2u) << "the request head, then the header check";
  EXPECT_EQ(max_on_path(fns["polc_l7_step"], "call 181"), 0u);
  // Each path of a program reaches the L7 code at most once (established, or a new entry).
  for (const char* prog : {"polc_from_pod", "polc_to_pod"})
    EXPECT_LE(max_on_path(fns[prog], "call polc_l7_enforce"), 1u) << prog;
}

}  // namespace
}  // namespace polc::backend_bpf::testing
