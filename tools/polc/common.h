// Shared plumbing of polc subcommands: input loading, diagnostics output, exit codes.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "polc/frontend/loader.h"
#include "polc/ir/diagnostic.h"

namespace polc::cli {

/// Exit codes: 0 success / clean, 1 findings (lint) or a denied assertion, 2 usage or input error.
enum Exit : int { kOk = 0, kFindings = 1, kInputError = 2 };

/// Options every subcommand that reads policy accepts.
struct InputOptions {
  std::vector<std::string> paths;
  bool verbose = false;
  std::string color = "auto";  ///< auto | always | never
  size_t max_errors = 100;
  std::vector<std::string> disable;
  uint32_t nodes = 0;  ///< --nodes N (frontend::LoadOptions::nodes); 0 = the inventory's placement
};

void add_input_options(CLI::App* app, InputOptions& opt, bool paths_required = true);
/// `--nodes N`: the placement of `polnode lab up --nodes N`. load_or_report then fails when the
/// inventory places its pods on a different number of nodes.
void add_nodes_option(CLI::App* app, InputOptions& opt);

/// Whether to color output to stderr/stdout.
[[nodiscard]] bool use_color(const InputOptions& opt, bool to_stderr);

/// Loads the inputs, prints diagnostics to stderr. Returns nullopt (after printing) when the
/// input has errors, so the caller exits with kInputError.
std::optional<frontend::LoadResult> load_or_report(const InputOptions& opt, ir::DiagnosticEngine& diags);

/// Prints all diagnostics in text form to stderr.
void print_diagnostics(const ir::DiagnosticEngine& diags, const ir::SourceManager& sm, const InputOptions& opt);

/// Registration functions, one per subcommand file. Each sets a callback that stores its exit
/// code into `*exit_code`.
void register_dump(CLI::App& app, int* exit_code);
void register_lint(CLI::App& app, int* exit_code);
void register_diff(CLI::App& app, int* exit_code);
void register_compile(CLI::App& app, int* exit_code);
void register_query(CLI::App& app, int* exit_code);
void register_matrix(CLI::App& app, int* exit_code);
void register_stubs(CLI::App& app, int* exit_code);

}  // namespace polc::cli
