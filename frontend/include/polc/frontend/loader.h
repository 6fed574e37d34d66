// Loads YAML/JSON files (inventory and policies) into an IR Model, reporting every problem.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "polc/ir/diagnostic.h"
#include "polc/ir/model.h"

namespace polc::frontend {

struct LoadOptions {
  bool verbose = false;  ///< report skipped kinds as notes
  /// When > 1 and the inventory has no Node objects and names at most one node, make nodes
  /// node-1..node-N (node IPs .2, .3, ...) and spread the pods over them with the IR's placement
  /// rule, ignoring that one nodeName: the placement of `polnode lab up --nodes N`. Otherwise
  /// the inventory's own placement is kept (the caller compares the node count).
  uint32_t nodes = 0;
};

struct LoadStats {
  size_t files = 0;
  size_t documents = 0;
  std::map<std::string, size_t> kinds;    ///< objects read, per kind
  std::map<std::string, size_t> skipped;  ///< objects of kinds polc does not use
};

struct LoadResult {
  ir::Model model;
  LoadStats stats;
};

/// Reads every path (file, directory searched recursively for .yaml/.yml/.json, or "-" for
/// stdin), parses all documents (multi-document YAML, `kind: List`), and builds a finalized
/// Model. Problems are reported to `diags` (file:line:col); the model holds everything that
/// could be read. Never throws.
[[nodiscard]] LoadResult load_inputs(const std::vector<std::string>& paths, ir::DiagnosticEngine& diags,
                                     const LoadOptions& opt = {});

/// Loads from in-memory text (tests, fuzzing). `name` is the file name shown in diagnostics.
[[nodiscard]] LoadResult load_text(const std::string& name, const std::string& text, ir::DiagnosticEngine& diags,
                                   const LoadOptions& opt = {});

}  // namespace polc::frontend
