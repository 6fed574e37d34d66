// Replays the checked-in fuzz corpora (seeds and every crash the fuzzers found) through the same
// entry functions the libFuzzer targets call, so regressions fail in every build, fuzzing or not.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz_entries.h"

namespace polc::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> corpus(const std::string& name) {
  std::vector<fs::path> out;
  fs::path dir = fs::path(POLC_SOURCE_DIR) / "tests/fuzz/corpus" / name;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Runs `entry` on every file of the corpus; each input must pass and finish within `budget`.
void replay(const std::string& name, std::string (*entry)(const uint8_t*, size_t), size_t min_files) {
  auto files = corpus(name);
  EXPECT_GE(files.size(), min_files) << "corpus '" << name << "' is missing files";
  for (const auto& f : files) {
    std::string data = read(f);
    auto start = std::chrono::steady_clock::now();
    std::string why = entry(reinterpret_cast<const uint8_t*>(data.data()), data.size());
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(why, "") << f.filename();
    EXPECT_LT(ms, 2000) << f.filename() << " took " << ms << " ms";
  }
}

TEST(FuzzCorpus, YamlToIr) {
  replay("yaml", &yaml_to_ir, 10);
}

TEST(FuzzCorpus, Regex) {
  replay("regex", &regex, 10);
}

/// The samples are part of the YAML seed corpus too.
TEST(FuzzCorpus, Samples) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(POLC_SOURCE_DIR) / "samples")) {
    if (!e.is_regular_file() || (e.path().extension() != ".yaml" && e.path().extension() != ".yml")) continue;
    std::string data = read(e.path());
    EXPECT_EQ(yaml_to_ir(reinterpret_cast<const uint8_t*>(data.data()), data.size()), "") << e.path();
    ++n;
  }
  EXPECT_GT(n, 0u);
}

}  // namespace
}  // namespace polc::fuzz
