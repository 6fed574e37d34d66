// `polc query` and `polc matrix` through the built binary:
//  - every samples/*/expect.txt is answered correctly by `polc query DIR --batch` (the file minus
//    its verdicts) and by `polc matrix --format json`;
//  - goldens of the text and JSON answers to a fixed set of questions per sample
//    (tests/verifier/query_golden/<sample>.query.{txt,json});
//  - exit codes and diagnostics for bad questions and batch lines.
//
// Regenerate the goldens after an intended change (then review the diff):
//   POLC_UPDATE_GOLDEN=1 ctest --test-dir <build> -L cli
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace polc {
namespace {

namespace fs = std::filesystem;

const fs::path kSource = fs::path(POLC_SOURCE_DIR).lexically_normal();
const fs::path kGolden = kSource / "tests/verifier/query_golden";
constexpr const char* kUpdateHint = "regenerate with: POLC_UPDATE_GOLDEN=1 ctest --test-dir <build> -L cli";

bool updating() {
  const char* v = std::getenv("POLC_UPDATE_GOLDEN");
  return v != nullptr && std::string(v) == "1";
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct PolcRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

/// Runs polc from the source directory (so paths in the output are relative: samples/...).
PolcRun run_polc(const std::string& args) {
  fs::path err_file = fs::path(POLC_BINARY_DIR) / ("query_cli_stderr_" + std::to_string(::getpid()) + ".txt");
  std::string cmd =
      "cd " + quote(kSource.string()) + " && " + quote(POLC_BINARY) + " " + args + " 2>" + quote(err_file.string());
  PolcRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.err = read_file(err_file);
  fs::remove(err_file);
  return r;
}

std::vector<std::string> samples_with_expectations() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kSource / "samples"))
    if (e.is_directory() && fs::exists(e.path() / "expect.txt")) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

struct Expectation {
  std::string probe;  ///< the line without its verdict
  bool allow = false;
};

std::vector<Expectation> expectations(const std::string& sample) {
  std::vector<Expectation> out;
  std::istringstream in(read_file(kSource / "samples" / sample / "expect.txt"));
  for (std::string line; std::getline(in, line);) {
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos || line[b] == '#') continue;
    size_t e = line.find_last_not_of(" \t\r");
    line = line.substr(b, e - b + 1);
    auto sp = line.rfind(' ');
    EXPECT_NE(sp, std::string::npos) << sample << ": " << line;
    if (sp == std::string::npos) continue;
    std::string verdict = line.substr(sp + 1);
    EXPECT_TRUE(verdict == "allow" || verdict == "deny") << sample << ": " << line;
    out.push_back(Expectation{line.substr(0, sp), verdict == "allow"});
  }
  return out;
}

class SampleExpectations : public ::testing::TestWithParam<std::string> {};

TEST_P(SampleExpectations, AnsweredByBatchQuery) {
  const std::string sample = GetParam();
  auto exp = expectations(sample);
  ASSERT_FALSE(exp.empty());
  fs::path probes = fs::path(POLC_BINARY_DIR) / ("query_batch_" + sample + "_" + std::to_string(::getpid()) + ".txt");
  {
    std::ofstream f(probes);
    f << "# probes of samples/" << sample << "/expect.txt without their verdicts\n\n";
    for (const auto& e : exp) f << e.probe << "   # comment\n";
  }
  PolcRun r = run_polc("query samples/" + sample + " --color never --batch " + quote(probes.string()));
  fs::remove(probes);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream out(r.out);
  std::vector<std::string> lines;
  for (std::string l; std::getline(out, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), exp.size()) << r.out;
  for (size_t i = 0; i < exp.size(); ++i)
    EXPECT_EQ(lines[i], exp[i].probe + (exp[i].allow ? " allow" : " deny")) << "samples/" << sample;
}

/// The matrix agrees with every expectation between two pods (or a pod and the world) that
/// needs no HTTP request: the cell of their workloads contains the port exactly when allowed,
/// unless the cell is not uniform across the workloads' pods.
TEST_P(SampleExpectations, AnsweredByTheMatrix) {
  const std::string sample = GetParam();
  PolcRun r = run_polc("matrix samples/" + sample + " --color never --format json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  PolcRun dump = run_polc("dump samples/" + sample + " --color never --format json");
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  auto d = nlohmann::json::parse(dump.out);
  // pod name -> workload, and pod IP -> pod.
  std::map<std::string, std::string> workload_of;
  std::map<std::string, std::string> pod_of_ip;
  for (const auto& e : d["endpoints"]) {
    std::string name = e["name"];                 // ns/pod
    if (e["host_network"].get<bool>()) continue;  // the node's address: not a workload cell
    std::string ns = name.substr(0, name.find('/'));
    std::string wl = name.substr(name.find('/') + 1);
    if (e.contains("workload")) {
      std::string kw = e["workload"];  // Kind/name
      wl = kw.substr(kw.find('/') + 1);
    }
    workload_of[name] = ns + "/" + wl;
    pod_of_ip[e["ip"].get<std::string>()] = name;
  }
  std::map<std::pair<std::string, std::string>, nlohmann::json> cells;
  for (const auto& e : j["edges"]) cells[{e["src"], e["dst"]}] = e;
  size_t checked = 0;
  for (const auto& e : expectations(sample)) {
    std::istringstream in(e.probe);
    std::string src, arrow, target, method;
    in >> src >> arrow >> target;
    if (in >> method) continue;  // an HTTP request: the matrix speaks about connections
    auto colon = target.rfind(':'), slash = target.rfind('/');
    std::string dst = target.substr(0, colon);
    int port = std::stoi(target.substr(colon + 1, slash - colon - 1));
    std::string proto = target.substr(slash + 1);
    for (auto& c : proto) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (pod_of_ip.count(src)) src = pod_of_ip[src];
    if (pod_of_ip.count(dst)) dst = pod_of_ip[dst];
    if (src == dst) continue;  // self traffic is not a matrix cell
    auto unit = [&](const std::string& s) -> std::string {
      if (workload_of.count(s)) return workload_of[s];
      if (s == "world") return "world";
      return "";
    };
    std::string us = unit(src), ud = unit(dst);
    if (us.empty() || ud.empty()) continue;  // nodes and specific external IPs: see the batch test
    bool in_cell = false, uniform = true;
    auto it = cells.find({us, ud});
    if (it != cells.end()) {
      uniform = it->second["uniform"];
      for (const auto& p : it->second["ports"])
        if (p["protocol"] == proto && p["from"].get<int>() <= port && port <= p["to"].get<int>()) in_cell = true;
    }
    ++checked;
    if (e.allow) {
      EXPECT_TRUE(in_cell) << "samples/" << sample << ": " << e.probe << " is allowed but the matrix cell " << us
                           << " -> " << ud << " lacks " << port << "/" << proto;
    } else if (uniform) {
      EXPECT_FALSE(in_cell) << "samples/" << sample << ": " << e.probe << " is denied but the matrix cell " << us
                            << " -> " << ud << " has " << port << "/" << proto;
    }
  }
  EXPECT_GT(checked, 0u);
}

INSTANTIATE_TEST_SUITE_P(Samples, SampleExpectations, ::testing::ValuesIn(samples_with_expectations()),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           std::string n = i.param;
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

// ---------------------------------------------------------------------------------------------
// Goldens

/// The questions asked of each sample in the goldens.
const std::map<std::string, std::vector<std::string>>& golden_questions() {
  static const std::map<std::string, std::vector<std::string>> q = {
      {"demo",
       {"can frontend reach database:5432?", "can backend reach database:5432", "can backend reach database",
        "can frontend reach svc:backend:80", "can world reach frontend", "can node:node-1 reach database:5432",
        "can {app=frontend} reach {app=database}", "can frontend reach kube-system/coredns:dns",
        "can frontend reach 8.8.8.8:53/udp", "who can reach database", "who can reach kube-system/coredns:53/udp",
        "what can frontend reach", "can fronted reach database", "can frontend rech database",
        "can frontend reach database:http"}},
      {"l7-api",
       {"can default/client reach api:8080", "can default/client reach api:8080 GET /api/v1/users",
        "can default/client reach api:8080 GET /admin", "can test/client reach api:8080", "who can reach api"}},
      {"cilium-demo", {"can world reach demo/nginx-web:80", "what can demo/nginx-web reach"}},
  };
  return q;
}

std::string transcript(const std::string& sample, const std::string& format) {
  std::string out;
  for (const auto& q : golden_questions().at(sample)) {
    PolcRun r = run_polc("query samples/" + sample + " " + quote(q) + " --color never" +
                         (format == "json" ? " --format json" : ""));
    out += "$ polc query samples/" + sample + " \"" + q + "\"" + (format == "json" ? " --format json" : "") + "\n";
    out += r.out;
    if (!r.err.empty()) out += "[stderr]\n" + r.err;
    out += "[exit " + std::to_string(r.exit_code) + "]\n\n";
  }
  return out;
}

std::string first_difference(const std::string& want, const std::string& got) {
  std::istringstream a(want), b(got);
  std::string la, lb;
  for (int line = 1;; ++line) {
    bool ea = !std::getline(a, la), eb = !std::getline(b, lb);
    if (ea && eb) return "(the texts differ only in line endings)";
    if (ea || eb || la != lb)
      return "first difference at line " + std::to_string(line) + ":\n  golden: " + (ea ? "<end>" : la) +
             "\n  actual: " + (eb ? "<end>" : lb);
  }
}

class QueryGolden : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(QueryGolden, Matches) {
  auto [sample, format] = GetParam();
  std::string actual = transcript(sample, format);
  fs::path golden = kGolden / (sample + ".query." + (format == "json" ? "json" : "txt"));
  if (updating()) {
    fs::create_directories(kGolden);
    std::ofstream(golden, std::ios::binary) << actual;
    std::fprintf(stderr, "updated %s\n", golden.c_str());
    return;
  }
  ASSERT_TRUE(fs::exists(golden)) << "no golden " << golden << "; " << kUpdateHint;
  std::string want = read_file(golden);
  EXPECT_TRUE(want == actual) << golden << " differs; " << first_difference(want, actual) << "\n" << kUpdateHint;
}

std::vector<std::pair<std::string, std::string>> golden_params() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [s, q] : golden_questions())
    for (const char* f : {"text", "json"}) out.emplace_back(s, f);
  return out;
}

INSTANTIATE_TEST_SUITE_P(Samples, QueryGolden, ::testing::ValuesIn(golden_params()),
                         [](const ::testing::TestParamInfo<std::pair<std::string, std::string>>& i) {
                           std::string n = i.param.first + "_" + i.param.second;
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(QueryGoldenFiles, EveryGoldenBelongsToAQuestionSet) {
  if (!fs::exists(kGolden)) return;
  for (const auto& e : fs::directory_iterator(kGolden)) {
    std::string f = e.path().filename().string();
    auto dot = f.find(".query.");
    ASSERT_NE(dot, std::string::npos) << "unexpected file " << e.path();
    EXPECT_TRUE(golden_questions().count(f.substr(0, dot))) << e.path() << " has no questions; delete it";
  }
}

// ---------------------------------------------------------------------------------------------
// Acceptance and exit codes

TEST(QueryCli, DemoFrontendToDatabaseIsDeniedWithTheIsolatingPolicy) {
  PolcRun r = run_polc("query samples/demo \"can frontend reach database:5432?\" --color never");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("DENY ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("database is isolated by NetworkPolicy default/default-deny (samples/demo/policies.yaml:"),
            std::string::npos)
      << r.out;
}

TEST(QueryCli, BadQuestionsExitTwoWithTheColumn) {
  PolcRun syntax = run_polc("query samples/demo \"can frontend rech database\" --color never");
  EXPECT_EQ(syntax.exit_code, 2);
  EXPECT_NE(syntax.err.find("<question>:1:14: error: unexpected 'rech'"), std::string::npos) << syntax.err;
  EXPECT_NE(syntax.err.find("[query-syntax]"), std::string::npos) << syntax.err;
  PolcRun unknown = run_polc("query samples/demo \"can frontend reach databse:5432\" --color never");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("<question>:1:20: error: no workload or pod 'databse' [query-unknown-endpoint]"),
            std::string::npos)
      << unknown.err;
  EXPECT_NE(unknown.err.find("did you mean 'database'?"), std::string::npos) << unknown.err;
  PolcRun missing = run_polc("query samples/demo");
  EXPECT_EQ(missing.exit_code, 2);
}

TEST(QueryCli, BadBatchLinesExitTwoWithLineAndColumn) {
  fs::path probes = fs::path(POLC_BINARY_DIR) / ("query_bad_batch_" + std::to_string(::getpid()) + ".txt");
  std::ofstream(probes) << "# a comment\n\ndefault/frontend-0 -> default/backend-0:80/tcp\n"
                           "default/frontend-0 => default/backend-0:80/tcp\n"
                           "  default/frontend-0 -> default/nope-0:80/tcp\n";
  PolcRun r = run_polc("query samples/demo --color never --batch " + quote(probes.string()));
  fs::remove(probes);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find(":4:20: error: unexpected '='"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(":5:25: error: no workload or pod 'default/nope-0'"), std::string::npos) << r.err;
}

TEST(MatrixCli, FormatsAndPorts) {
  PolcRun text = run_polc("matrix samples/demo --color never");
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("default/backend      default/database     5432/TCP"), std::string::npos) << text.out;
  PolcRun dot = run_polc("matrix samples/demo --format dot --no-world --no-nodes");
  ASSERT_EQ(dot.exit_code, 0) << dot.err;
  EXPECT_EQ(dot.out.rfind("digraph connectivity {", 0), 0u);
  EXPECT_NE(dot.out.find("\"default/frontend\" -> \"default/backend\" [label=\"80/TCP\"];"), std::string::npos)
      << dot.out;
  EXPECT_EQ(dot.out.find("world"), std::string::npos);
  PolcRun csv = run_polc("matrix samples/demo --format csv --ports 53/udp --no-world --no-nodes");
  ASSERT_EQ(csv.exit_code, 0) << csv.err;
  EXPECT_NE(csv.out.find("default/frontend,kube-system/coredns,UDP,53,53,false,true"), std::string::npos) << csv.out;
  EXPECT_EQ(csv.out.find(",TCP,"), std::string::npos) << csv.out;
  PolcRun bad = run_polc("matrix samples/demo --ports 80/xyz");
  EXPECT_EQ(bad.exit_code, 2);
}

}  // namespace
}  // namespace polc
