#include "common.h"

#include <unistd.h>

#include <iostream>

namespace polc::cli {

void add_input_options(CLI::App* app, InputOptions& opt, bool paths_required) {
  auto* p = app->add_option("paths", opt.paths,
                            "policy and inventory files or directories (searched recursively for .yaml, .yml, "
                            ".json); '-' reads stdin");
  if (paths_required) p->required();
  app->add_flag("-v,--verbose", opt.verbose, "also report skipped objects and notes");
  app->add_option("--color", opt.color, "color diagnostics: auto, always or never")
      ->check(CLI::IsMember({"auto", "always", "never"}))
      ->capture_default_str();
  app->add_option("--max-errors", opt.max_errors, "stop reporting after this many errors")->capture_default_str();
  app->add_option("--disable", opt.disable, "silence a diagnostic by its id (repeatable), e.g. unknown-field");
}

void add_nodes_option(CLI::App* app, InputOptions& opt) {
  app->add_option("--nodes", opt.nodes,
                  "spread pods over node-1..node-N like `polnode lab up --nodes N` (inventories without nodes)")
      ->check(CLI::Range(1, 250));
}

bool use_color(const InputOptions& opt, bool to_stderr) {
  if (opt.color == "always") return true;
  if (opt.color == "never") return false;
  return isatty(to_stderr ? 2 : 1) && std::getenv("NO_COLOR") == nullptr;
}

void print_diagnostics(const ir::DiagnosticEngine& diags, const ir::SourceManager& sm, const InputOptions& opt) {
  ir::RenderOptions ro;
  ro.color = use_color(opt, true);
  for (const auto& d : diags.diagnostics()) {
    if (d.severity == ir::Severity::Note && !opt.verbose) continue;
    std::cerr << ir::render_text(d, sm, ro);
  }
  size_t e = diags.count(ir::Severity::Error), w = diags.count(ir::Severity::Warning);
  if (e || w)
    std::cerr << e << " error" << (e == 1 ? "" : "s") << ", " << w << " warning" << (w == 1 ? "" : "s")
              << " in input\n";
}

std::optional<frontend::LoadResult> load_or_report(const InputOptions& opt, ir::DiagnosticEngine& diags) {
  for (const auto& id : opt.disable) {
    auto d = ir::find_diag(id);
    if (!d) {
      std::cerr << "polc: unknown diagnostic id '" << id << "' in --disable\n";
      return std::nullopt;
    }
    diags.disable(*d);
  }
  frontend::LoadOptions lo;
  lo.verbose = opt.verbose;
  lo.nodes = opt.nodes;
  auto res = frontend::load_inputs(opt.paths, diags, lo);
  diags.sort();
  print_diagnostics(diags, res.model.sources, opt);
  if (diags.has_errors()) return std::nullopt;
  if (opt.nodes > 0 && res.model.nodes.size() != opt.nodes) {
    std::cerr << "polc: --nodes " << opt.nodes << ": the inventory already places pods on " << res.model.nodes.size()
              << " nodes\n";
    return std::nullopt;
  }
  if (res.stats.documents == 0 && res.model.policies.empty() && res.model.endpoints.empty()) {
    std::cerr << "polc: no Kubernetes objects found in the input\n";
    return std::nullopt;
  }
  return res;
}

}  // namespace polc::cli
