// Golden tests for `polc dump` (text and --format json) on every directory under samples/.
// The built polc binary runs on each sample; its stdout, with the source directory replaced by
// `$POLC_SOURCE`, must equal tests/cli/golden/<sample>.dump.txt and .dump.json.
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
#include <sstream>
#include <string>
#include <vector>

namespace polc::cli {
namespace {

namespace fs = std::filesystem;

const fs::path kSamples = fs::path(POLC_SOURCE_DIR) / "samples";
const fs::path kGolden = fs::path(POLC_SOURCE_DIR) / "tests/cli/golden";
constexpr const char* kUpdateHint = "regenerate with: POLC_UPDATE_GOLDEN=1 ctest --test-dir <build> -L cli";

bool updating() {
  const char* v = std::getenv("POLC_UPDATE_GOLDEN");
  return v != nullptr && std::string(v) == "1";
}

std::vector<std::string> samples() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kSamples))
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

struct Run {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs the polc binary with `args`, capturing stdout and stderr.
Run run_polc(const std::string& args) {
  fs::path err_file = fs::path(POLC_BINARY_DIR) / ("cli_golden_stderr_" + std::to_string(::getpid()) + ".txt");
  std::string cmd = std::string("'") + POLC_BINARY + "' " + args + " 2>'" + err_file.string() + "'";
  Run r;
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

/// Replaces every occurrence of the source directory, so goldens do not depend on the checkout.
std::string normalize(std::string s) {
  const std::string src = fs::path(POLC_SOURCE_DIR).lexically_normal().string();
  for (size_t pos = s.find(src); pos != std::string::npos; pos = s.find(src, pos)) {
    s.replace(pos, src.size(), "$POLC_SOURCE");
    pos += 12;
  }
  return s;
}

/// The first differing line, for a readable failure.
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

void check_golden(const std::string& sample, const std::string& suffix, const std::string& args) {
  fs::path dir = (kSamples / sample).lexically_normal();
  Run r = run_polc("dump '" + dir.string() + "' --color never " + args);
  ASSERT_EQ(r.exit_code, 0) << "polc dump " << args << " failed on samples/" << sample << ":\n" << r.err;
  std::string actual = normalize(r.out);
  fs::path golden = kGolden / (sample + suffix);
  if (updating()) {
    fs::create_directories(kGolden);
    std::ofstream(golden, std::ios::binary) << actual;
    std::fprintf(stderr, "updated %s\n", golden.c_str());
    return;
  }
  ASSERT_TRUE(fs::exists(golden)) << "samples/" << sample << " has no golden file tests/cli/golden/" << sample << suffix
                                  << "; " << kUpdateHint;
  std::string want = read_file(golden);
  EXPECT_TRUE(want == actual) << "`polc dump " << args << "` on samples/" << sample << " differs from "
                              << "tests/cli/golden/" << sample << suffix << "; " << first_difference(want, actual)
                              << "\nIf the change is intended, " << kUpdateHint;
}

class DumpGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(DumpGolden, Text) {
  check_golden(GetParam(), ".dump.txt", "");
}

TEST_P(DumpGolden, Json) {
  check_golden(GetParam(), ".dump.json", "--format json");
}

INSTANTIATE_TEST_SUITE_P(Samples, DumpGolden, ::testing::ValuesIn(samples()),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           std::string n = i.param;
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

/// Independent of test discovery (which happens at build time): a sample added since the last
/// build still fails here until its goldens exist.
TEST(DumpGoldenFiles, EverySampleHasGoldens) {
  if (updating()) return;
  for (const auto& s : samples())
    for (const char* suffix : {".dump.txt", ".dump.json"})
      EXPECT_TRUE(fs::exists(kGolden / (s + suffix)))
          << "samples/" << s << " has no golden file tests/cli/golden/" << s << suffix << "; " << kUpdateHint;
}

TEST(DumpGoldenFiles, EveryGoldenBelongsToASample) {
  if (!fs::exists(kGolden)) return;
  auto names = samples();
  for (const auto& e : fs::directory_iterator(kGolden)) {
    std::string f = e.path().filename().string();
    auto dot = f.find(".dump.");
    ASSERT_NE(dot, std::string::npos) << "unexpected file tests/cli/golden/" << f;
    EXPECT_TRUE(std::find(names.begin(), names.end(), f.substr(0, dot)) != names.end())
        << "tests/cli/golden/" << f << " has no sample directory samples/" << f.substr(0, dot) << "; delete it";
  }
}

TEST(DumpGoldenFiles, NormalizationHidesTheCheckoutPath) {
  std::string src = fs::path(POLC_SOURCE_DIR).lexically_normal().string();
  EXPECT_EQ(normalize(src + "/samples/x.yaml:1:1 and " + src + "/y"),
            "$POLC_SOURCE/samples/x.yaml:1:1 and $POLC_SOURCE/y");
}

}  // namespace
}  // namespace polc::cli
