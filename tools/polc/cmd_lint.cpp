// polc lint: the CI gate for policy YAML. Text (grouped, colored on a terminal), JSON or SARIF.
// Also checks the user's assertions (--assert FILE, and polc-assertions.txt in an input directory).
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "common.h"
#include "polc/frontend/query_parser.h"
#include "polc/ir/diagnostic_formats.h"
#include "polc/verifier/lint.h"

namespace polc::cli {

namespace {

/// The assertions files of a run: every --assert FILE, then DIR/polc-assertions.txt for each
/// input directory that has one (once each).
std::vector<std::string> assertion_files(const std::vector<std::string>& explicit_files,
                                         const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::set<fs::path> seen;
  auto add = [&](const std::string& f) {
    std::error_code ec;
    fs::path key = fs::weakly_canonical(f, ec);
    if (ec) key = f;
    if (seen.insert(key).second) out.push_back(f);
  };
  for (const auto& f : explicit_files) add(f);
  for (const auto& in : inputs) {
    std::error_code ec;
    if (in == "-" || !fs::is_directory(in, ec)) continue;
    fs::path f = fs::path(in) / frontend::kAssertionsFileName;
    if (fs::is_regular_file(f, ec)) add(f.string());
  }
  return out;
}

/// Reads and parses the assertions files into `sources` (so diagnostics quote them). False when
/// a file cannot be read (reported as io-error).
bool load_assertions(const std::vector<std::string>& files, ir::SourceManager& sources, ir::DiagnosticEngine& diags,
                     std::vector<ir::Assertion>& out) {
  bool ok = true;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) {
      diags.report(ir::DiagId::IoError, ir::SourceLoc{}, "cannot read assertions file '" + f + "'");
      ok = false;
      continue;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    uint32_t id = sources.add(f, text);
    auto parsed = frontend::parse_assertions(text, id, diags);
    out.insert(out.end(), std::make_move_iterator(parsed.begin()), std::make_move_iterator(parsed.end()));
  }
  return ok;
}

}  // namespace

void register_lint(CLI::App& app, int* exit_code) {
  struct Opts {
    InputOptions in;
    std::string format = "text";
    std::string fail_on = "warning";
    std::string output;
    bool no_prove = false;
    std::vector<std::string> assert_files;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "lint",
      "Check policies for mistakes: typos, selectors matching nothing, default-deny gaps, egress that blocks DNS,\n"
      "redundant and shadowed rules, L7 rules that cannot match or have no effect.\n"
      "Exit code: 0 clean, 1 findings at or above --fail-on, 2 usage or input error.\n"
      "Silence a check with --disable ID, or inside a policy with the annotation\n"
      "  polc.dev/lint-disable: \"redundant-rule,overly-broad-allow\"\n"
      "Assertions ('frontend must not reach database:5432', see docs/lint.md) come from --assert FILE and\n"
      "from polc-assertions.txt in an input directory; one that does not hold is an error.");
  add_input_options(cmd, opts->in);
  cmd->add_option("--format", opts->format, "text, json or sarif (SARIF 2.1.0, for GitHub code scanning)")
      ->check(CLI::IsMember({"text", "json", "sarif"}))
      ->capture_default_str();
  cmd->add_option("--fail-on", opts->fail_on, "lowest severity that fails the run: error, warning, info or note")
      ->check(CLI::IsMember({"error", "warning", "info", "note"}))
      ->capture_default_str();
  cmd->add_option("-o,--output", opts->output, "write the report to this file instead of stdout");
  cmd->add_flag("--no-prove", opts->no_prove, "skip the redundancy and shadowing analysis");
  cmd->add_option("--assert", opts->assert_files,
                  "check the assertions in FILE (repeatable), one per line, e.g. 'frontend must not reach "
                  "database:5432'; DIR/polc-assertions.txt of an input directory is checked too");
  cmd->callback([opts, exit_code] {
    ir::DiagnosticEngine diags(opts->in.max_errors);
    for (const auto& id : opts->in.disable) {
      auto d = ir::find_diag(id);
      if (!d) {
        std::cerr << "polc lint: unknown diagnostic id '" << id << "' in --disable (see docs/diagnostics.md)\n";
        *exit_code = kInputError;
        return;
      }
      diags.disable(*d);
    }
    frontend::LoadOptions lo;
    lo.verbose = opts->in.verbose;
    auto res = frontend::load_inputs(opts->in.paths, diags, lo);
    if (diags.has_errors()) {
      diags.sort();
      print_diagnostics(diags, res.model.sources, opts->in);
      *exit_code = kInputError;
      return;
    }
    verifier::LintOptions lint_opt;
    lint_opt.prove = !opts->no_prove;
    if (!load_assertions(assertion_files(opts->assert_files, opts->in.paths), res.model.sources, diags,
                         lint_opt.assertions)) {
      diags.sort();
      print_diagnostics(diags, res.model.sources, opts->in);
      *exit_code = kInputError;
      return;
    }
    verifier::lint(res.model, lint_opt, diags);
    diags.sort();
    std::vector<ir::Diagnostic> shown;
    for (const auto& d : diags.diagnostics())
      if (d.severity != ir::Severity::Note || d.id == ir::DiagId::InventoryMissing || opts->in.verbose ||
          opts->format != "text")
        shown.push_back(d);

    std::ofstream file;
    std::ostream* out = &std::cout;
    if (!opts->output.empty()) {
      file.open(opts->output);
      if (!file) {
        std::cerr << "polc lint: cannot write '" << opts->output << "'\n";
        *exit_code = kInputError;
        return;
      }
      out = &file;
    }
    ir::FormatOptions fo;
    fo.tool_version = POLC_VERSION;
    if (opts->format == "json") {
      *out << ir::diagnostics_json(shown, res.model.sources, fo).dump(2) << "\n";
    } else if (opts->format == "sarif") {
      *out << ir::diagnostics_sarif(shown, res.model.sources, fo).dump(2) << "\n";
    } else {
      ir::RenderOptions ro;
      ro.color = opts->output.empty() && use_color(opts->in, false);
      uint32_t last_file = 0xffffffffu;
      for (const auto& d : shown) {
        if (d.loc.file != last_file && last_file != 0xffffffffu) *out << "\n";
        last_file = d.loc.file;
        *out << ir::render_text(d, res.model.sources, ro);
      }
      size_t e = diags.count(ir::Severity::Error), w = diags.count(ir::Severity::Warning),
             i = diags.count(ir::Severity::Info);
      std::string checked;
      if (!lint_opt.assertions.empty()) {
        // An assertion holds when no error is reported at its line (failed, or names unknown).
        std::set<std::pair<uint32_t, uint32_t>> bad;
        for (const auto& d : diags.diagnostics())
          if (d.severity == ir::Severity::Error) bad.emplace(d.loc.file, d.loc.line);
        size_t failed = 0;
        for (const auto& a : lint_opt.assertions) failed += bad.count({a.loc.file, a.loc.line});
        checked = "; " + std::to_string(lint_opt.assertions.size() - failed) + " of " +
                  std::to_string(lint_opt.assertions.size()) + " assertions hold";
      }
      if (shown.empty())
        *out << "no findings in " << res.model.policies.size() << " policies" << checked << "\n";
      else
        *out << "\n"
             << e << " error(s), " << w << " warning(s), " << i << " info in " << res.model.policies.size()
             << " policies" << checked << "\n";
    }
    auto threshold = *ir::parse_severity(opts->fail_on);
    bool fail = false;
    for (const auto& d : diags.diagnostics())
      if (d.severity >= threshold) fail = true;
    *exit_code = fail ? kFindings : kOk;
  });
}

}  // namespace polc::cli
