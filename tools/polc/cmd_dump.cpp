// polc dump: print the IR (identities, endpoints, normalized rules with provenance).
#include <iostream>

#include "common.h"
#include "polc/ir/dump.h"

namespace polc::cli {

void register_dump(CLI::App& app, int* exit_code) {
  struct Opts {
    InputOptions in;
    std::string format = "text";
    bool summary = false;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("dump", "Print the normalized IR: identities, endpoints, rules with provenance");
  add_input_options(cmd, opts->in);
  cmd->add_option("--format", opts->format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_flag("--summary", opts->summary, "only count what was loaded, per kind");
  cmd->callback([opts, exit_code] {
    ir::DiagnosticEngine diags(opts->in.max_errors);
    auto res = load_or_report(opts->in, diags);
    if (!res) {
      *exit_code = kInputError;
      return;
    }
    if (opts->summary) {
      const auto& m = res->model;
      size_t rules = m.rules.size();
      std::cout << "loaded " << res->stats.files << " file(s), " << res->stats.documents << " document(s):";
      for (const auto& [kind, n] : res->stats.kinds) std::cout << " " << kind << "=" << n;
      std::cout << "\n";
      if (!res->stats.skipped.empty()) {
        std::cout << "skipped:";
        for (const auto& [kind, n] : res->stats.skipped) std::cout << " " << kind << "=" << n;
        std::cout << "\n";
      }
      std::cout << "model: " << m.namespaces.size() << " namespaces, " << m.nodes.size() << " node(s), "
                << m.endpoints.size() << " pods in " << m.identities.size() << " identities, " << m.services.size()
                << " services, " << m.policies.size() << " policies with " << rules << " rules\n";
      *exit_code = kOk;
      return;
    }
    if (opts->format == "json")
      std::cout << ir::dump_json(res->model).dump(2) << "\n";
    else
      std::cout << ir::dump_text(res->model);
    *exit_code = kOk;
  });
}

}  // namespace polc::cli
