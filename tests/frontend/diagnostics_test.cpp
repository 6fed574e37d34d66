// Negative-input tests: every fixture under tests/frontend/inputs states its expected
// diagnostics inline, e.g.  `# expect-error@+1 {{unknown field 'podSelecter'}}`.
// The test fails on a missing expected diagnostic and on any unexpected error or warning.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "polc/frontend/loader.h"

namespace polc::frontend {
namespace {

namespace fs = std::filesystem;

struct Expectation {
  ir::Severity severity;
  uint32_t line;
  std::string text;
  bool matched = false;
};

std::vector<Expectation> read_expectations(const std::string& text) {
  std::vector<Expectation> out;
  std::regex re(R"(expect-(error|warning|note|info)(@([+-]\d+))?\s*\{\{(.*?)\}\})");
  std::istringstream in(text);
  std::string line;
  uint32_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    for (std::sregex_iterator it(line.begin(), line.end(), re), end; it != end; ++it) {
      Expectation e;
      e.severity = *ir::parse_severity((*it)[1].str());
      int off = (*it)[3].matched ? std::stoi((*it)[3].str()) : 0;
      e.line = static_cast<uint32_t>(static_cast<int>(n) + off);
      e.text = (*it)[4].str();
      out.push_back(e);
    }
  }
  return out;
}

std::vector<std::string> fixtures() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fs::path(POLC_SOURCE_DIR) / "tests/frontend/inputs"))
    if (e.path().extension() == ".yaml" || e.path().extension() == ".json") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

class Diagnostics : public ::testing::TestWithParam<std::string> {};

TEST_P(Diagnostics, MatchInlineExpectations) {
  fs::path p = fs::path(POLC_SOURCE_DIR) / "tests/frontend/inputs" / GetParam();
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  auto expected = read_expectations(ss.str());
  ir::DiagnosticEngine diags;
  auto res = load_inputs({p.string()}, diags);
  bool any_expected_note = std::any_of(expected.begin(), expected.end(),
                                       [](const Expectation& e) { return e.severity == ir::Severity::Note; });
  auto match = [&](ir::Severity sev, const ir::SourceLoc& loc, const std::string& message) {
    for (auto& e : expected) {
      if (e.matched || e.severity != sev || e.line != loc.line) continue;
      if (message.find(e.text) == std::string::npos) continue;
      e.matched = true;
      return true;
    }
    return false;
  };
  for (const auto& d : diags.diagnostics()) {
    if (d.severity != ir::Severity::Note || any_expected_note)
      EXPECT_TRUE(match(d.severity, d.loc, d.message)) << "unexpected diagnostic:\n"
                                                       << ir::render_text(d, res.model.sources);
    // Notes attached to a diagnostic (e.g. "first defined here") are checked when the fixture
    // expects any note; they must then be in this file.
    if (!any_expected_note) continue;
    for (const auto& n : d.notes)
      EXPECT_TRUE(n.loc.file == d.loc.file && match(ir::Severity::Note, n.loc, n.message))
          << "unexpected note at line " << n.loc.line << ": " << n.message << "\n  attached to: " << d.message;
  }
  for (const auto& e : expected)
    EXPECT_TRUE(e.matched) << GetParam() << ":" << e.line << ": expected " << ir::severity_name(e.severity) << " {{"
                           << e.text << "}} was not reported";
}

INSTANTIATE_TEST_SUITE_P(Inputs, Diagnostics, ::testing::ValuesIn(fixtures()),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           std::string n = i.param;
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

}  // namespace
}  // namespace polc::frontend
