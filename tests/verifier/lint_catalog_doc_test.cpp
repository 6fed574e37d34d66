// docs/diagnostics.md is the diagnostic catalog (ir/include/polc/ir/diagnostics.def) rendered as
// Markdown. This test renders it and fails when the file differs, so the page cannot drift from
// the catalog. Regenerate it with POLC_UPDATE_GOLDEN=1 (see the page's header).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "polc/ir/diagnostic.h"
#include "polc/verifier/lint.h"

namespace polc::verifier {
namespace {

namespace fs = std::filesystem;

std::string render_catalog() {
  std::ostringstream o;
  o << "# Diagnostic catalog\n\n"
       "<!-- Generated from ir/include/polc/ir/diagnostics.def by tests/verifier/lint_catalog_doc_test.cpp.\n"
       "     Do not edit by hand: change the catalog, then run\n"
       "     POLC_UPDATE_GOLDEN=1 ctest --test-dir <build> -R LintCatalogDoc -->\n\n"
       "Every problem polc reports is a diagnostic with a stable kebab-case id, a default severity and a\n"
       "group. The id appears in text output (`file:line:col: warning: message [id]`), as `id` in\n"
       "`--format json` and as the `ruleId` in SARIF; `--disable ID` silences it on the command line.\n"
       "Findings of the `lint` group can also be silenced inside one policy with the annotation\n"
       "`"
    << kLintDisableAnnotation
    << ": \"id,id\"` (or `\"all\"`).\n\n"
       "Severities: an **error** of the input, schema or query group stops the run before any analysis\n"
       "(exit code 2); other errors, **warnings** and **infos** are findings (`polc lint` exits 1 when one\n"
       "is at or above `--fail-on`, default `warning`); a **note** is context (in text only with `-v`, apart\n"
       "from `inventory-missing`; always in JSON and SARIF). In SARIF, info and note map to `note`.\n\n"
       "The `lint` group is what `polc lint` checks. Each check has a positive and a negative fixture\n"
       "under `tests/verifier/lint/`, and `samples/broken` makes every one of them fire.\n";
  std::vector<std::string> groups;
  for (const auto& s : ir::diag_catalog())
    if (std::find(groups.begin(), groups.end(), s.group) == groups.end()) groups.emplace_back(s.group);
  for (const auto& g : groups) {
    o << "\n## " << g << "\n\n| id | severity | meaning |\n|---|---|---|\n";
    for (const auto& s : ir::diag_catalog()) {
      if (s.group != g) continue;
      std::string desc(s.description);
      for (size_t p = desc.find('|'); p != std::string::npos; p = desc.find('|', p + 2)) desc.replace(p, 1, "\\|");
      o << "| `" << s.name << "` | " << ir::severity_name(s.severity) << " | " << desc << " |\n";
    }
  }
  return o.str();
}

TEST(LintCatalogDoc, DocsDiagnosticsMatchesTheCatalog) {
  fs::path doc = fs::path(POLC_SOURCE_DIR) / "docs/diagnostics.md";
  std::string want = render_catalog();
  const char* update = std::getenv("POLC_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(doc, std::ios::binary) << want;
    return;
  }
  std::ifstream in(doc, std::ios::binary);
  ASSERT_TRUE(in) << "docs/diagnostics.md is missing; POLC_UPDATE_GOLDEN=1 ctest -R LintCatalogDoc writes it";
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_TRUE(ss.str() == want) << "docs/diagnostics.md differs from the catalog in diagnostics.def; "
                                   "regenerate it with POLC_UPDATE_GOLDEN=1 ctest --test-dir <build> -R LintCatalogDoc";
}

TEST(LintCatalogDoc, EveryIdIsListedOnce) {
  std::string doc = render_catalog();
  for (const auto& s : ir::diag_catalog()) {
    std::string cell = "| `" + std::string(s.name) + "` |";
    auto first = doc.find(cell);
    EXPECT_NE(first, std::string::npos) << s.name;
    EXPECT_EQ(doc.find(cell, first + 1), std::string::npos) << s.name << " is listed twice";
  }
}

}  // namespace
}  // namespace polc::verifier
