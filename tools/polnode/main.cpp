// polnode: loads `polc compile` output into the kernel, runs a local lab, shows flows.
#include <CLI/CLI.hpp>
#include <string>

#include "commands.h"
#include "polc/runtime/runtime.h"

int main(int argc, char** argv) {
  CLI::App app{"polnode: the polc node runtime (loads compiled policy, routes pods, load-balances services)",
               "polnode"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("polnode (libbpf ") + polc::runtime::libbpf_version() + ")");
  int rc = 0;
  polc::polnode::register_lab(app, &rc);
  polc::polnode::register_probe(app, &rc);
  polc::polnode::register_datapath(app, &rc);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int r = app.exit(e);
    return r == 0 ? 0 : polc::polnode::kUsage;
  }
  return rc;
}
