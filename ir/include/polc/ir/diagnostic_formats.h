// Machine renderings of diagnostics: JSON and SARIF 2.1.0 (for GitHub code scanning).
// Text, JSON and SARIF are three renderings of the same Diagnostic objects.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "polc/ir/diagnostic.h"

namespace polc::ir {

struct FormatOptions {
  std::string tool_version = "0.0.0";
  /// Prefix stripped from file paths so reports are relative to the repository.
  std::string strip_prefix;
};

/// {"diagnostics": [{id, severity, file, line, column, message, notes: [...], hint}], "summary": {...}}
[[nodiscard]] nlohmann::json diagnostics_json(const std::vector<Diagnostic>& diags, const SourceManager& sm,
                                              const FormatOptions& opt = {});
/// A SARIF 2.1.0 log with one run; every catalog entry used becomes a rule; notes become
/// relatedLocations; hints go to the result's properties.
[[nodiscard]] nlohmann::json diagnostics_sarif(const std::vector<Diagnostic>& diags, const SourceManager& sm,
                                               const FormatOptions& opt = {});

}  // namespace polc::ir
