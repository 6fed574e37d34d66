// samples/broken is the policy set that makes every lint check fire: `polc lint samples/broken`
// must report each id of the catalog group "lint" at least once (user assertions have their own
// input, and inventory-missing cannot fire where there is an inventory), and nothing else but
// lint findings: the sample loads without schema problems, as every sample must.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "polc/frontend/loader.h"
#include "polc/verifier/lint.h"

namespace polc::verifier {
namespace {

namespace fs = std::filesystem;

TEST(LintBrokenSample, EveryLintCheckFires) {
  fs::path dir = fs::path(POLC_SOURCE_DIR) / "samples/broken";
  ir::DiagnosticEngine diags;
  auto res = frontend::load_inputs({dir.string()}, diags);
  ASSERT_FALSE(diags.has_errors()) << "samples/broken must load without errors";
  for (const auto& d : diags.diagnostics())
    EXPECT_TRUE(d.severity == ir::Severity::Note || d.severity == ir::Severity::Info)
        << "samples/broken must load cleanly:\n"
        << ir::render_text(d, res.model.sources);
  size_t loaded = diags.diagnostics().size();
  lint(res.model, LintOptions{}, diags);

  std::map<ir::DiagId, int> fired;
  for (size_t i = 0; i < diags.diagnostics().size(); ++i) fired[diags.diagnostics()[i].id]++;
  EXPECT_GT(diags.diagnostics().size(), loaded);
  for (const auto& s : ir::diag_catalog()) {
    if (s.group != "lint") continue;
    if (s.id == ir::DiagId::AssertionFailed || s.id == ir::DiagId::AssertionSyntax ||
        s.id == ir::DiagId::InventoryMissing)
      continue;
    EXPECT_GT(fired[s.id], 0) << "`polc lint samples/broken` does not report [" << s.name
                              << "]: add the mistake it catches to samples/broken (and its README)";
  }
  EXPECT_EQ(fired[ir::DiagId::InventoryMissing], 0);
}

TEST(LintBrokenSample, ReadmeNamesEveryCheck) {
  std::ifstream in(fs::path(POLC_SOURCE_DIR) / "samples/broken/README.md");
  std::stringstream ss;
  ss << in.rdbuf();
  for (const auto& s : ir::diag_catalog()) {
    if (s.group != "lint" || s.id == ir::DiagId::AssertionFailed || s.id == ir::DiagId::AssertionSyntax ||
        s.id == ir::DiagId::InventoryMissing)
      continue;
    EXPECT_NE(ss.str().find("`" + std::string(s.name) + "`"), std::string::npos)
        << "samples/broken/README.md does not list the check `" << s.name << "`";
  }
}

}  // namespace
}  // namespace polc::verifier
