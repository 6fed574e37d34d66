// Subcommands whose capability has not landed yet: they say so and exit 2, never fake success.
#include <iostream>
#include <vector>

#include "common.h"

namespace polc::cli {

void register_stubs(CLI::App& app, int* exit_code) {
  struct Stub {
    const char* name;
    const char* help;
  };
  static const std::vector<Stub> stubs = {};  // every subcommand has landed
  for (const auto& s : stubs) {
    auto* cmd = app.add_subcommand(s.name, std::string(s.help) + " (not built yet)");
    cmd->allow_extras();
    std::string name = s.name;
    cmd->callback([name, exit_code] {
      std::cerr << "polc " << name << ": not built yet in this version of polc\n";
      *exit_code = kInputError;
    });
  }
}

}  // namespace polc::cli
