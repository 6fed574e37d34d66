// polnode: loads `polc compile` output into the kernel, runs a local lab, shows flows.
#include <CLI/CLI.hpp>

#include <iostream>

#include "polc/runtime/runtime.h"

int main(int argc, char** argv) {
  CLI::App app{"polnode: the polc node runtime (loads compiled policy, routes pods, load-balances services)", "polnode"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("polnode (libbpf ") + polc::runtime::libbpf_version() + ")");
  int rc = 0;
  for (const char* name : {"lab", "apply", "detach", "observe", "status"}) {
    auto* cmd = app.add_subcommand(name, std::string(name) + " (not built yet)");
    cmd->allow_extras();
    std::string n = name;
    cmd->callback([n, &rc] {
      std::cerr << "polnode " << n << ": not built yet in this version of polc\n";
      rc = 2;
    });
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int r = app.exit(e);
    return r == 0 ? 0 : 2;
  }
  return rc;
}
