// polc diff: which flows a policy change allows or denies, with the rules that decide them.
#include <iostream>

#include "common.h"
#include "polc/verifier/diff.h"

namespace polc::cli {

void register_diff(CLI::App& app, int* exit_code) {
  struct Opts {
    InputOptions before, after;
    std::string old_path, new_path;
    std::string format = "text";
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("diff",
                                 "Semantic difference between two policy sets: every flow that becomes allowed or\n"
                                 "denied, and the rules that decide it before and after.\n"
                                 "Exit code: 0 no difference, 1 differences, 2 input error.\n"
                                 "Example: polc diff main/ pr/");
  cmd->add_option("old", opts->old_path, "the policy set before (file or directory)")->required();
  cmd->add_option("new", opts->new_path, "the policy set after (file or directory)")->required();
  cmd->add_option("--format", opts->format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->callback([opts, exit_code] {
    opts->before.paths = {opts->old_path};
    opts->after.paths = {opts->new_path};
    ir::DiagnosticEngine d1, d2;
    auto before = load_or_report(opts->before, d1);
    auto after = load_or_report(opts->after, d2);
    if (!before || !after) {
      *exit_code = kInputError;
      return;
    }
    auto res = verifier::diff_models(before->model, after->model);
    if (opts->format == "json")
      std::cout << verifier::diff_json(res).dump(2) << "\n";
    else
      std::cout << verifier::diff_text(res);
    *exit_code = res.changes.empty() ? kOk : kFindings;
  });
}

}  // namespace polc::cli
