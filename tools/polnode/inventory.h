// Turns a polc inventory (YAML loaded by the frontend into the IR model) into the runtime's
// plain LabSpec. This is the only place where polnode touches the compiler's libraries: the
// runtime library itself never sees the IR.
#pragma once

#include <string>
#include <vector>

#include "polc/ir/model.h"
#include "polc/runtime/lab.h"

namespace polc::polnode {

struct LabSpecOptions {
  std::string name;    ///< lab name
  std::string source;  ///< shown by `lab status`
  /// > 0: spread pods over this many nodes (node-1..node-N) when the inventory has only the
  /// implicit default node; otherwise it must equal the inventory's node count.
  int nodes = 0;
};

/// Converts the model. Fails when --nodes conflicts with the inventory's own nodes.
[[nodiscard]] runtime::Result<runtime::LabSpec> lab_spec_from_model(const ir::Model& m, const LabSpecOptions& opt);

/// Loads paths with the frontend (printing diagnostics to stderr) and converts the model.
[[nodiscard]] runtime::Result<runtime::LabSpec> load_lab_spec(const std::vector<std::string>& paths,
                                                              const LabSpecOptions& opt);

}  // namespace polc::polnode
