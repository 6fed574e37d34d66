// polnode subcommands: one registration function per file, each storing its exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "polc/runtime/result.h"

namespace polc::polnode {

/// Exit codes: 0 success; 1 the operation failed (or a probe did not get through); 2 usage or
/// input error. `lab exec` returns the command's own exit code.
enum Exit : int { kOk = 0, kFailed = 1, kUsage = 2 };

void register_lab(CLI::App& app, int* exit_code);
void register_probe(CLI::App& app, int* exit_code);
void register_datapath(CLI::App& app, int* exit_code);

/// The lab to act on: `name` when given, else the only lab on this machine.
[[nodiscard]] runtime::Result<std::string> pick_lab(const std::string& name);

}  // namespace polc::polnode
