// Golden tests for `polc lint` on every directory under samples/, in text, JSON and SARIF, plus
// the command's exit codes and options. The built polc binary runs with the repository root as
// working directory on `samples/<name>`, so every path in the output is repository-relative
// (as it is in CI); the source directory, should it appear, becomes `$POLC_SOURCE`, and the SARIF
// tool version becomes `<version>`. Goldens: tests/verifier/golden/<sample>.lint.{txt,json,sarif}.
//
// Regenerate every golden after an intended change (then review the diff):
//   POLC_UPDATE_GOLDEN=1 ctest --test-dir <build> -L cli
// A sample without goldens fails with that hint, and so does a golden without its sample.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace polc::verifier {
namespace {

namespace fs = std::filesystem;

const fs::path kSource = fs::path(POLC_SOURCE_DIR).lexically_normal();
const fs::path kGolden = kSource / "tests/verifier/golden";
constexpr const char* kUpdateHint = "regenerate with: POLC_UPDATE_GOLDEN=1 ctest --test-dir <build> -L cli";

bool updating() {
  const char* v = std::getenv("POLC_UPDATE_GOLDEN");
  return v != nullptr && std::string(v) == "1";
}

std::vector<std::string> samples() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kSource / "samples"))
    if (e.is_directory()) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
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

/// Runs `polc ARGS` in the repository root, capturing stdout and stderr.
PolcRun run_polc(const std::string& args) {
  fs::path err_file = fs::path(POLC_BINARY_DIR) / ("lint_golden_stderr_" + std::to_string(::getpid()) + ".txt");
  std::string cmd = "cd '" + kSource.string() + "' && '" + POLC_BINARY + "' " + args + " 2>'" + err_file.string() + "'";
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

std::string normalize(std::string s) {
  const std::string src = kSource.string();
  for (size_t pos = s.find(src); pos != std::string::npos; pos = s.find(src, pos)) {
    s.replace(pos, src.size(), "$POLC_SOURCE");
    pos += 12;
  }
  return s;
}

/// The SARIF log with the tool version replaced, so a release does not touch every golden.
std::string normalize_sarif(const std::string& s) {
  auto j = nlohmann::json::parse(s, nullptr, false);
  if (j.is_discarded()) return s;
  if (j.contains("runs"))
    for (auto& run : j["runs"])
      if (run.contains("tool") && run["tool"].contains("driver") && run["tool"]["driver"].contains("version"))
        run["tool"]["driver"]["version"] = "<version>";
  return normalize(j.dump(2) + "\n");
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

/// The exit code `polc lint` must return for a JSON report at the default --fail-on warning.
int expected_exit(const nlohmann::json& report) {
  const auto& s = report["summary"];
  return s["error"].get<int>() + s["warning"].get<int>() > 0 ? 1 : 0;
}

void check_golden(const std::string& sample, const std::string& format) {
  PolcRun r = run_polc("lint samples/" + sample + " --color never --format " + format);
  // The JSON report of the same run says which exit code is right.
  PolcRun json = format == "json" ? r : run_polc("lint samples/" + sample + " --format json");
  auto report = nlohmann::json::parse(json.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << "polc lint --format json on samples/" << sample << " printed no JSON:\n"
                                      << json.out << json.err;
  EXPECT_EQ(r.exit_code, expected_exit(report))
      << "polc lint --format " << format << " on samples/" << sample << ": wrong exit code\n"
      << r.err;
  EXPECT_EQ(r.err, "") << "polc lint wrote to stderr on samples/" << sample;
  std::string actual = format == "sarif" ? normalize_sarif(r.out) : normalize(r.out);
  const std::string suffix = format == "text" ? ".lint.txt" : ".lint." + format;
  fs::path golden = kGolden / (sample + suffix);
  if (updating()) {
    fs::create_directories(kGolden);
    std::ofstream(golden, std::ios::binary) << actual;
    std::fprintf(stderr, "updated %s\n", golden.c_str());
    return;
  }
  ASSERT_TRUE(fs::exists(golden)) << "samples/" << sample << " has no golden file tests/verifier/golden/" << sample
                                  << suffix << "; " << kUpdateHint;
  std::string want = read_file(golden);
  EXPECT_TRUE(want == actual) << "`polc lint --format " << format << "` on samples/" << sample << " differs from "
                              << "tests/verifier/golden/" << sample << suffix << "; " << first_difference(want, actual)
                              << "\nIf the change is intended, " << kUpdateHint;
}

class LintGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(LintGolden, Text) {
  check_golden(GetParam(), "text");
}
TEST_P(LintGolden, Json) {
  check_golden(GetParam(), "json");
}
TEST_P(LintGolden, Sarif) {
  check_golden(GetParam(), "sarif");
}

INSTANTIATE_TEST_SUITE_P(Samples, LintGolden, ::testing::ValuesIn(samples()),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           std::string n = i.param;
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(LintGoldenFiles, EveryGoldenBelongsToASample) {
  if (!fs::exists(kGolden)) return;
  auto names = samples();
  for (const auto& e : fs::directory_iterator(kGolden)) {
    std::string f = e.path().filename().string();
    auto dot = f.find(".lint.");
    ASSERT_NE(dot, std::string::npos) << "unexpected file tests/verifier/golden/" << f;
    EXPECT_TRUE(std::find(names.begin(), names.end(), f.substr(0, dot)) != names.end())
        << "tests/verifier/golden/" << f << " has no sample directory samples/" << f.substr(0, dot) << "; delete it";
  }
}

TEST(LintGoldenFiles, NormalizationHidesCheckoutAndVersion) {
  std::string src = kSource.string();
  EXPECT_EQ(normalize(src + "/samples/x.yaml:1:1"), "$POLC_SOURCE/samples/x.yaml:1:1");
  auto sarif =
      nlohmann::json::parse(normalize_sarif(R"({"runs":[{"tool":{"driver":{"name":"polc","version":"9.9"}}}]})"));
  EXPECT_EQ(sarif["runs"][0]["tool"]["driver"]["version"], "<version>");
}

// --- the command line: exit codes and options (README "CI: polc lint") ----------------------

const std::string kBroken = "samples/broken";
const std::string kInputError = "tests/verifier/lint/input_errors_stop_lint.yaml";
const std::string kPoliciesOnly = "tests/verifier/lint/inventory_missing.yaml";

TEST(LintCli, FindingsExitOne) {
  EXPECT_EQ(run_polc("lint " + kBroken).exit_code, 1);
}

TEST(LintCli, FailOnRaisesTheThreshold) {
  // samples/broken has warnings and infos, and errors only from its assertions that fail.
  EXPECT_EQ(run_polc("lint " + kBroken + " --fail-on error").exit_code, 1);
  EXPECT_EQ(run_polc("lint " + kBroken + " --fail-on error --disable assertion-failed").exit_code, 0);
  EXPECT_EQ(run_polc("lint " + kBroken + " --fail-on info").exit_code, 1);
  // Only infos and notes without an inventory, once its warnings are disabled (the redundant rules
  // are proved for any pod, without pods).
  std::string quiet =
      "lint " + kPoliciesOnly + " --disable l7-invalid-method --disable ipblock-overlaps-pods --disable redundant-rule";
  EXPECT_EQ(run_polc(quiet).exit_code, 0);
  EXPECT_EQ(run_polc(quiet + " --fail-on info").exit_code, 1);
}

TEST(LintCli, DisableSilencesAnId) {
  PolcRun all = run_polc("lint " + kBroken + " --format json");
  PolcRun less = run_polc("lint " + kBroken + " --format json --disable default-deny-gap --disable overly-broad-allow");
  auto count = [](const PolcRun& r, const std::string& id) {
    int n = 0;
    auto report = nlohmann::json::parse(r.out);
    for (const auto& d : report["diagnostics"]) n += d["id"] == id;
    return n;
  };
  EXPECT_GT(count(all, "default-deny-gap"), 0);
  EXPECT_GT(count(all, "overly-broad-allow"), 0);
  EXPECT_EQ(count(less, "default-deny-gap"), 0);
  EXPECT_EQ(count(less, "overly-broad-allow"), 0);
  EXPECT_EQ(count(less, "egress-blocks-dns"), count(all, "egress-blocks-dns"));
}

TEST(LintCli, UsageAndInputErrorsExitTwo) {
  PolcRun unknown = run_polc("lint " + kBroken + " --disable no-such-check");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unknown diagnostic id 'no-such-check'"), std::string::npos) << unknown.err;
  EXPECT_EQ(run_polc("lint " + kBroken + " --format xml").exit_code, 2);
  EXPECT_EQ(run_polc("lint " + kBroken + " --fail-on never").exit_code, 2);
  PolcRun bad = run_polc("lint " + kInputError);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("[invalid-regex]"), std::string::npos) << bad.err;
  EXPECT_EQ(bad.out.find("[selector-matches-nothing]"), std::string::npos) << "lint must not run on bad input";
}

TEST(LintCli, WithoutInventoryTheNoteIsShown) {
  PolcRun r = run_polc("lint " + kPoliciesOnly + " --color never");
  EXPECT_NE(r.out.find("[inventory-missing]"), std::string::npos) << r.out;
}

TEST(LintCli, OutputFileHoldsTheReport) {
  fs::path out = fs::path(POLC_BINARY_DIR) / ("lint_report_" + std::to_string(::getpid()) + ".sarif");
  PolcRun r = run_polc("lint " + kBroken + " --format sarif -o '" + out.string() + "'");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  auto j = nlohmann::json::parse(read_file(out), nullptr, false);
  fs::remove(out);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["version"], "2.1.0");
  EXPECT_FALSE(j["runs"][0]["results"].empty());
}

// --- assertions: --assert FILE and DIR/polc-assertions.txt (docs/lint.md) ---------------------

const std::string kAssertCluster = "tests/verifier/lint/assert_failed.yaml";
const std::string kAssertFailing = "tests/verifier/lint/assert_failed.assertions.txt";
const std::string kAssertHolding = "tests/verifier/lint/assert_holds.assertions.txt";

int count_id(const PolcRun& r, const std::string& id) {
  int n = 0;
  auto report = nlohmann::json::parse(r.out, nullptr, false);
  if (report.is_discarded()) return -1;
  for (const auto& d : report["diagnostics"]) n += d["id"] == id;
  return n;
}

TEST(LintCliAssert, FailingAssertionsFailTheRunAtAnyThreshold) {
  PolcRun r = run_polc("lint " + kAssertCluster + " --assert " + kAssertFailing + " --fail-on error --format json");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(count_id(r, "assertion-failed"), 8) << r.out;
  PolcRun ok = run_polc("lint " + kAssertCluster + " --assert " + kAssertHolding + " --fail-on error --format json");
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_EQ(count_id(ok, "assertion-failed"), 0);
}

TEST(LintCliAssert, TextSaysHowManyHold) {
  PolcRun r = run_polc("lint " + kAssertCluster + " --assert " + kAssertFailing + " --assert " + kAssertHolding +
                       " --color never --disable default-deny-gap --disable useless-deny");
  EXPECT_NE(r.out.find("; 13 of 21 assertions hold"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("assert_failed.assertions.txt:3:1: error: assertion 'web must not reach api:8080'"),
            std::string::npos)
      << r.out;
}

TEST(LintCliAssert, TheDirectorysAssertionsFileIsPickedUpOnce) {
  PolcRun dir = run_polc("lint samples/broken --format json");
  EXPECT_EQ(count_id(dir, "assertion-failed"), 4);
  // Named explicitly as well: still checked once.
  PolcRun twice = run_polc("lint samples/broken --assert samples/broken/polc-assertions.txt --format json");
  EXPECT_EQ(count_id(twice, "assertion-failed"), 4);
  // A file of the input is not picked up: only directories carry polc-assertions.txt.
  PolcRun file = run_polc(
      "lint samples/broken/policies.yaml samples/broken/cilium.yaml samples/broken/inventory.yaml "
      "--format json");
  EXPECT_EQ(count_id(file, "assertion-failed"), 0);
}

TEST(LintCliAssert, SarifHasTheDecidingRulesAsRelatedLocations) {
  PolcRun r = run_polc("lint " + kAssertCluster + " --assert " + kAssertFailing + " --format sarif");
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  bool found = false;
  for (const auto& res : j["runs"][0]["results"]) {
    if (res["ruleId"] != "assertion-failed") continue;
    std::string uri = res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
    EXPECT_NE(uri.find("assert_failed.assertions.txt"), std::string::npos) << uri;
    if (!res.contains("relatedLocations")) continue;
    for (const auto& rel : res["relatedLocations"]) {
      std::string ruri = rel["physicalLocation"]["artifactLocation"]["uri"];
      if (ruri.find("assert_failed.yaml") != std::string::npos) found = true;
    }
  }
  EXPECT_TRUE(found) << "no assertion-failed result points at a deciding rule in the policies";
}

TEST(LintCliAssert, UnreadableFileIsAnInputError) {
  PolcRun r = run_polc("lint " + kAssertCluster + " --assert tests/verifier/lint/no-such-assertions.txt");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot read assertions file"), std::string::npos) << r.err;
}

TEST(LintCliAssert, SyntaxErrorsAreFindingsAndLintStillRuns) {
  PolcRun r = run_polc(
      "lint tests/verifier/lint/assert_syntax.yaml --assert "
      "tests/verifier/lint/assert_syntax.assertions.txt --format json");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(count_id(r, "assertion-syntax"), 5) << r.out;
  EXPECT_EQ(count_id(r, "query-unknown-endpoint"), 2) << r.out;
  EXPECT_GT(count_id(r, "default-deny-gap"), 0) << "lint must run next to bad assertions";
}

}  // namespace
}  // namespace polc::verifier
