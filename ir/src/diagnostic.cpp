#include "polc/ir/diagnostic.h"

#include <algorithm>
#include <cassert>

namespace polc::ir {

std::string_view severity_name(Severity s) {
  switch (s) {
    case Severity::Note: return "note";
    case Severity::Info: return "info";
    case Severity::Warning: return "warning";
    case Severity::Error: return "error";
  }
  return "error";
}

std::optional<Severity> parse_severity(std::string_view s) {
  if (s == "note") return Severity::Note;
  if (s == "info") return Severity::Info;
  if (s == "warning") return Severity::Warning;
  if (s == "error") return Severity::Error;
  return std::nullopt;
}

const std::vector<DiagSpec>& diag_catalog() {
  static const std::vector<DiagSpec> catalog = {
#define POLC_DIAG(E, ID, SEV, GROUP, DESC) {DiagId::E, ID, Severity::SEV, GROUP, DESC},
#include "polc/ir/diagnostics.def"
#undef POLC_DIAG
  };
  return catalog;
}

const DiagSpec& diag_spec(DiagId id) {
  const auto& c = diag_catalog();
  auto i = static_cast<size_t>(id);
  assert(i < c.size() && c[i].id == id && "diagnostic catalog out of order");
  return c[i];
}

std::optional<DiagId> find_diag(std::string_view name) {
  for (const auto& s : diag_catalog())
    if (s.name == name) return s.id;
  return std::nullopt;
}

Diagnostic* DiagnosticEngine::report(DiagId id, SourceLoc loc, std::string message, std::string hint) {
  return report(id, diag_spec(id).severity, loc, std::move(message), std::move(hint));
}

Diagnostic* DiagnosticEngine::report(DiagId id, Severity sev, SourceLoc loc, std::string message, std::string hint) {
  if (is_disabled(id)) return nullptr;
  if (sev == Severity::Error) {
    if (error_count_ >= error_limit_) {
      ++error_count_;
      if (!limit_note_) {
        limit_note_ = true;
        diags_.push_back(Diagnostic{DiagId::TooManyErrors,
                                    Severity::Error,
                                    {},
                                    "too many errors (limit " + std::to_string(error_limit_) + "); stopping here",
                                    {},
                                    "fix the errors above and run again"});
      }
      return nullptr;
    }
    ++error_count_;
  }
  diags_.push_back(Diagnostic{id, sev, loc, std::move(message), {}, std::move(hint)});
  return &diags_.back();
}

size_t DiagnosticEngine::count(Severity s) const {
  return static_cast<size_t>(
      std::count_if(diags_.begin(), diags_.end(), [s](const Diagnostic& d) { return d.severity == s; }));
}

void DiagnosticEngine::sort() {
  std::stable_sort(diags_.begin(), diags_.end(), [](const Diagnostic& a, const Diagnostic& b) {
    if (a.id == DiagId::TooManyErrors || b.id == DiagId::TooManyErrors)
      return b.id == DiagId::TooManyErrors && a.id != DiagId::TooManyErrors;
    if (a.loc != b.loc) return a.loc < b.loc;
    return diag_spec(a.id).name < diag_spec(b.id).name;
  });
}

void DiagnosticEngine::clear() {
  diags_.clear();
  error_count_ = 0;
  limit_note_ = false;
}

namespace {

const char* color_of(Severity s) {
  switch (s) {
    case Severity::Note: return "\033[1;36m";
    case Severity::Info: return "\033[1;34m";
    case Severity::Warning: return "\033[1;35m";
    case Severity::Error: return "\033[1;31m";
  }
  return "";
}

void append_source(std::string& out, const SourceManager& sm, SourceLoc loc, const RenderOptions& opt) {
  if (!opt.show_source || !loc.valid()) return;
  std::string_view line = sm.line(loc.file, loc.line);
  if (line.empty()) return;
  out += "  ";
  out += line;
  out += "\n  ";
  // Keep tabs so the caret lines up under tab-indented source.
  for (uint32_t i = 1; i < loc.col && i - 1 < line.size(); ++i) out += line[i - 1] == '\t' ? '\t' : ' ';
  out += opt.color ? "\033[1;32m^\033[0m\n" : "^\n";
}

}  // namespace

std::string render_text(const Diagnostic& d, const SourceManager& sm, const RenderOptions& opt) {
  std::string out;
  const char* bold = opt.color ? "\033[1m" : "";
  const char* reset = opt.color ? "\033[0m" : "";
  if (d.loc.file != 0) {
    out += bold;
    out += sm.format(d.loc);
    out += ": ";
    out += reset;
  }
  if (opt.color) out += color_of(d.severity);
  out += severity_name(d.severity);
  out += ": ";
  out += reset;
  out += bold;
  out += d.message;
  out += reset;
  out += " [";
  out += diag_spec(d.id).name;
  out += "]\n";
  append_source(out, sm, d.loc, opt);
  for (const auto& n : d.notes) {
    if (n.loc.file != 0) out += sm.format(n.loc) + ": ";
    out += opt.color ? "\033[1;36mnote:\033[0m " : "note: ";
    out += n.message;
    out += "\n";
    append_source(out, sm, n.loc, opt);
  }
  if (!d.hint.empty()) {
    out += opt.color ? "\033[1;32mhint:\033[0m " : "hint: ";
    out += d.hint;
    out += "\n";
  }
  return out;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment distance (Levenshtein plus adjacent transposition).
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = i;
  for (size_t j = 0; j <= m; ++j) d[0][j] = j;
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[n][m];
}

std::optional<std::string> closest_match(std::string_view word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  size_t best_d = 0;
  for (const auto& c : candidates) {
    size_t dist = edit_distance(word, c);
    // Case-insensitive equality counts as very close.
    bool ci_equal = word.size() == c.size() && std::equal(word.begin(), word.end(), c.begin(), [](char x, char y) {
                      return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
                    });
    if (ci_equal) dist = 1;
    if (!best || dist < best_d) {
      best = c;
      best_d = dist;
    }
  }
  if (!best) return std::nullopt;
  size_t limit = std::max<size_t>(1, std::min(word.size(), best->size()) / 3);
  if (best_d == 0 || best_d > limit) return std::nullopt;
  return best;
}

}  // namespace polc::ir
