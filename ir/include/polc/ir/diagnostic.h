// Diagnostics: user problems collected with locations, notes and hints, from a single catalog.
#pragma once

#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "polc/ir/source.h"

namespace polc::ir {

enum class Severity { Note, Info, Warning, Error };

[[nodiscard]] std::string_view severity_name(Severity s);
[[nodiscard]] std::optional<Severity> parse_severity(std::string_view s);

enum class DiagId {
#define POLC_DIAG(E, ID, SEV, GROUP, DESC) E,
#include "polc/ir/diagnostics.def"
#undef POLC_DIAG
};

/// One catalog entry.
struct DiagSpec {
  DiagId id;
  std::string_view name;  ///< stable kebab-case id
  Severity severity;      ///< default severity
  std::string_view group;
  std::string_view description;
};

[[nodiscard]] const DiagSpec& diag_spec(DiagId id);
[[nodiscard]] const std::vector<DiagSpec>& diag_catalog();
[[nodiscard]] std::optional<DiagId> find_diag(std::string_view name);

/// A note attached to a diagnostic, usually at a related location (the covering rule, ...).
struct DiagNote {
  SourceLoc loc;
  std::string message;
};

struct Diagnostic {
  DiagId id;
  Severity severity;
  SourceLoc loc;
  std::string message;  ///< lower-case start, no trailing period, concrete values
  std::vector<DiagNote> notes;
  std::string hint;  ///< optional one-line fix suggestion
};

/// Collects diagnostics for a run. Errors beyond the limit are counted, not stored.
class DiagnosticEngine {
 public:
  explicit DiagnosticEngine(size_t error_limit = 100) : error_limit_(error_limit) {}

  /// Reports a diagnostic with the catalog's default severity. Returns the stored
  /// diagnostic (to attach notes), or nullptr when disabled or over the limit.
  Diagnostic* report(DiagId id, SourceLoc loc, std::string message, std::string hint = {});
  Diagnostic* report(DiagId id, Severity sev, SourceLoc loc, std::string message, std::string hint = {});

  void disable(DiagId id) { disabled_.insert(id); }
  [[nodiscard]] bool is_disabled(DiagId id) const { return disabled_.count(id) != 0; }

  [[nodiscard]] bool has_errors() const { return error_count_ > 0; }
  [[nodiscard]] size_t error_count() const { return error_count_; }
  [[nodiscard]] size_t count(Severity s) const;
  [[nodiscard]] bool limit_reached() const { return error_count_ >= error_limit_; }
  /// An error was reported past the limit (so the too-many-errors diagnostic is there): input
  /// readers can stop.
  [[nodiscard]] bool limit_exceeded() const { return error_count_ > error_limit_; }
  [[nodiscard]] const std::vector<Diagnostic>& diagnostics() const { return diags_; }
  /// Stable order: by file, line, column, then id.
  void sort();
  void clear();

 private:
  std::vector<Diagnostic> diags_;
  std::set<DiagId> disabled_;
  size_t error_limit_;
  size_t error_count_ = 0;
  bool limit_note_ = false;
};

struct RenderOptions {
  bool color = false;
  bool show_source = true;
};

/// Renders one diagnostic as `file:line:col: severity: message [id]` + source line + caret
/// + notes + hint.
[[nodiscard]] std::string render_text(const Diagnostic& d, const SourceManager& sm, const RenderOptions& opt = {});

/// The edit distance used for "did you mean" suggestions.
[[nodiscard]] size_t edit_distance(std::string_view a, std::string_view b);
/// The candidate closest to `word` if it is close enough to be a likely typo.
[[nodiscard]] std::optional<std::string> closest_match(std::string_view word,
                                                       const std::vector<std::string>& candidates);

}  // namespace polc::ir
