// Lint fixtures: every file under tests/verifier/lint is a cluster (inventory and policies in one
// multi-document YAML file) run through frontend::load_inputs and verifier::lint, as `polc lint`
// does (lint only runs when the input has no errors). Expectations are written inline:
//   # expect-warning@+1 {{text}}   a diagnostic of that severity on the next line, containing text
//   # expect-note@* {{text}}       ... on any line, or without a location (inventory-missing)
//   # expect-related@+1 {{text}}   a note of a compared diagnostic at that line (covering rule, ...)
//   # expect-hint@+1 {{text}}      the hint of a compared diagnostic reported at that line
// A header line `# lint-only: id, id` restricts the comparison to those diagnostic ids (every
// fixture also triggers unrelated checks such as default-deny-gap); without it every error,
// warning and info is compared. The test fails on a missing and on an unexpected diagnostic.
// A fixture that lists an id in lint-only and expects none of it is a negative fixture for it;
// LintFixtures.EveryCheckHasPositiveAndNegativeFixtures requires both for every lint check.
// A fixture NAME.yaml may come with NAME.assertions.txt, an assertions file (`polc lint --assert`)
// checked with it; its own `# expect-...` comments are expectations on its lines. Every
// expectation belongs to the file it is written in.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "polc/frontend/loader.h"
#include "polc/frontend/query_parser.h"
#include "polc/verifier/lint.h"

namespace polc::verifier {
namespace {

namespace fs = std::filesystem;

enum class Kind { Diagnostic, Related, Hint };

struct Expectation {
  Kind kind = Kind::Diagnostic;
  ir::Severity severity = ir::Severity::Warning;
  bool any_line = false;
  uint32_t line = 0;  ///< line of the expected diagnostic (of the note for Related)
  uint32_t written_at = 0;
  std::string file;  ///< file name (fixture or its assertions file) the expectation is written in
  std::string text;
  bool matched = false;
  std::optional<ir::DiagId> matched_id;
};

struct Fixture {
  std::string name;
  std::vector<Expectation> expected;
  std::optional<std::set<ir::DiagId>> only;
  std::vector<std::string> errors;  ///< malformed directives
};

fs::path fixture_dir() {
  return fs::path(POLC_SOURCE_DIR) / "tests/verifier/lint";
}

std::string trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t\r"));
  s.erase(s.find_last_not_of(" \t\r") + 1);
  return s;
}

/// The assertions file that goes with fixture `name` (may not exist).
std::string assertions_of(const std::string& name) {
  return name.substr(0, name.rfind('.')) + ".assertions.txt";
}

void parse_expectations(Fixture& f, const std::string& file) {
  std::ifstream in(fixture_dir() / file);
  std::regex expect_re(R"(expect-(error|warning|note|info|related|hint)(@([+-]\d+|\*))?\s*\{\{(.*?)\}\})");
  std::regex only_re(R"(^\s*#\s*lint-only:(.*)$)");
  std::string line;
  uint32_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::smatch om;
    if (std::regex_match(line, om, only_re)) {
      if (!f.only) f.only.emplace();
      std::stringstream ss(om[1].str());
      for (std::string item; std::getline(ss, item, ',');) {
        item = trim(item);
        if (auto id = ir::find_diag(item))
          f.only->insert(*id);
        else
          f.errors.push_back("line " + std::to_string(n) + ": unknown diagnostic id '" + item + "' in lint-only");
      }
      continue;
    }
    for (std::sregex_iterator it(line.begin(), line.end(), expect_re), end; it != end; ++it) {
      Expectation e;
      std::string what = (*it)[1].str();
      if (what == "related")
        e.kind = Kind::Related;
      else if (what == "hint")
        e.kind = Kind::Hint;
      else
        e.severity = *ir::parse_severity(what);
      std::string off = (*it)[3].str();
      e.any_line = off == "*";
      int delta = (*it)[3].matched && !e.any_line ? std::stoi(off) : 0;
      e.line = static_cast<uint32_t>(static_cast<int>(n) + delta);
      e.written_at = n;
      e.file = file;
      e.text = (*it)[4].str();
      if (e.any_line && e.kind != Kind::Diagnostic)
        f.errors.push_back("line " + std::to_string(n) + ": '@*' is only for diagnostics");
      f.expected.push_back(e);
    }
  }
}

Fixture parse_fixture(const std::string& name) {
  Fixture f;
  f.name = name;
  parse_expectations(f, name);
  if (fs::exists(fixture_dir() / assertions_of(name))) parse_expectations(f, assertions_of(name));
  return f;
}

struct FixtureRun {
  Fixture fixture;
  ir::Model model;
  std::vector<ir::Diagnostic> compared;  ///< diagnostics the fixture's expectations are compared to
  std::vector<std::string> failures;
};

/// The file name of a location.
std::string file_of(const ir::Model& m, ir::SourceLoc loc) {
  return fs::path(m.sources.path(loc.file)).filename().string();
}

FixtureRun run_fixture(const std::string& name) {
  FixtureRun run{parse_fixture(name), {}, {}, {}};
  Fixture& f = run.fixture;
  for (const auto& e : f.errors) run.failures.push_back(name + ": " + e);

  ir::DiagnosticEngine diags;
  auto res = frontend::load_inputs({(fixture_dir() / name).string()}, diags);
  // As `polc lint`: lint runs on input without errors; the assertions file is read then.
  bool loaded = !diags.has_errors();
  LintOptions opt;
  fs::path afile = fixture_dir() / assertions_of(name);
  if (loaded && fs::exists(afile)) {
    std::ifstream in(afile, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    uint32_t id = res.model.sources.add(afile.string(), ss.str());
    opt.assertions = frontend::parse_assertions(ss.str(), id, diags);
  }
  if (loaded) lint(res.model, opt, diags);
  diags.sort();
  run.model = std::move(res.model);

  bool any_expected_note = std::any_of(f.expected.begin(), f.expected.end(), [](const Expectation& e) {
    return e.kind == Kind::Diagnostic && e.severity == ir::Severity::Note;
  });
  for (const auto& d : diags.diagnostics()) {
    if (f.only ? !f.only->count(d.id) : d.severity == ir::Severity::Note && !any_expected_note) continue;
    run.compared.push_back(d);
  }

  for (const auto& d : run.compared) {
    bool found = false;
    for (auto& e : f.expected) {
      if (e.kind != Kind::Diagnostic || e.matched || e.severity != d.severity) continue;
      if (!e.any_line && (d.loc.file == 0 || e.line != d.loc.line || file_of(run.model, d.loc) != e.file)) continue;
      if (d.message.find(e.text) == std::string::npos) continue;
      e.matched = found = true;
      e.matched_id = d.id;
      break;
    }
    if (!found) run.failures.push_back(name + ": unexpected diagnostic:\n" + ir::render_text(d, run.model.sources));
  }
  for (auto& e : f.expected) {
    if (e.kind == Kind::Diagnostic) continue;
    for (const auto& d : run.compared) {
      if (e.kind == Kind::Hint && d.loc.line == e.line && file_of(run.model, d.loc) == e.file &&
          d.hint.find(e.text) != std::string::npos)
        e.matched = true;
      if (e.kind == Kind::Related)
        for (const auto& note : d.notes)
          if (note.loc.file != 0 && note.loc.line == e.line && file_of(run.model, note.loc) == e.file &&
              note.message.find(e.text) != std::string::npos)
            e.matched = true;
    }
  }
  for (const auto& e : f.expected) {
    if (e.matched) continue;
    const char* what = e.kind == Kind::Related ? "related note"
                       : e.kind == Kind::Hint  ? "hint"
                                               : ir::severity_name(e.severity).data();
    std::string where = e.any_line ? "*" : std::to_string(e.line);
    std::string all;
    for (const auto& d : run.compared) all += ir::render_text(d, run.model.sources);
    run.failures.push_back(e.file + ":" + std::to_string(e.written_at) + ": expected " + what + "@" + where + " {{" +
                           e.text + "}} was not reported; compared diagnostics:\n" + all);
  }
  return run;
}

std::vector<std::string> fixtures() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fixture_dir()))
    if (e.path().extension() == ".yaml") out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

class LintFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(LintFixture, MatchesInlineExpectations) {
  FixtureRun run = run_fixture(GetParam());
  EXPECT_FALSE(run.fixture.expected.empty() && !run.fixture.only)
      << GetParam() << ": a fixture needs expectations or a lint-only line (to state that nothing fires)";
  for (const auto& f : run.failures) ADD_FAILURE() << f;
}

INSTANTIATE_TEST_SUITE_P(Lint, LintFixture, ::testing::ValuesIn(fixtures()),
                         [](const ::testing::TestParamInfo<std::string>& i) {
                           std::string n = i.param.substr(0, i.param.rfind('.'));
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

/// The checks a fixture must cover: the catalog group "lint" (user assertions included: their
/// fixtures have an assertions file) and the warnings from the frontend that `polc lint` reports.
std::vector<ir::DiagId> covered_checks() {
  std::vector<ir::DiagId> out;
  for (const auto& s : ir::diag_catalog()) {
    if (s.group == "lint") out.push_back(s.id);
  }
  for (auto id : {ir::DiagId::UnknownField, ir::DiagId::DeprecatedApi, ir::DiagId::UnresolvablePeer,
                  ir::DiagId::UnsupportedField, ir::DiagId::IgnoredRules, ir::DiagId::EmptyPeerList})
    out.push_back(id);
  return out;
}

TEST(LintFixtures, EveryCheckHasPositiveAndNegativeFixtures) {
  std::map<ir::DiagId, std::vector<std::string>> positive, negative;
  for (const auto& name : fixtures()) {
    FixtureRun run = run_fixture(name);
    if (!run.failures.empty()) continue;  // reported by MatchesInlineExpectations
    std::set<ir::DiagId> fired;
    for (const auto& e : run.fixture.expected)
      if (e.matched_id) fired.insert(*e.matched_id);
    for (auto id : fired) positive[id].push_back(name);
    if (run.fixture.only)
      for (auto id : *run.fixture.only)
        if (!fired.count(id)) negative[id].push_back(name);
  }
  for (auto id : covered_checks()) {
    std::string name(ir::diag_spec(id).name);
    EXPECT_FALSE(positive[id].empty()) << "no passing fixture under tests/verifier/lint expects [" << name << "]";
    EXPECT_FALSE(negative[id].empty()) << "no passing negative fixture (lint-only: " << name
                                       << " and no expectation of it) under tests/verifier/lint";
  }
}

}  // namespace
}  // namespace polc::verifier
