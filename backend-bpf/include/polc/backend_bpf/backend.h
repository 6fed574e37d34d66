// The BPF backend: lowers the IR for the nodes of a cluster into loadable BPF objects and map
// layouts. The pipeline, one pass per file:
//   ResolvePolicies (ir) -> BuildL7Maps -> for each node: BuildIpcache -> BuildPolicyMaps
//   -> PlanCapacity -> CompileDatapath -> ReadObject -> CheckCapacity -> EmitLayout
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "polc/backend_bpf/build_policy_maps.h"
#include "polc/backend_bpf/compile_datapath.h"
#include "polc/backend_bpf/map_contents.h"
#include "polc/backend_bpf/plan_capacity.h"
#include "polc/ir/diagnostic.h"
#include "polc/ir/model.h"
#include "polc/ir/result.h"

namespace polc::backend_bpf {

/// The LLVM version the backend generates code with, e.g. "14.0.6".
[[nodiscard]] const char* llvm_version();

/// File names inside an output directory (per node).
inline constexpr const char* kObjectFile = "polc.bpf.o";
inline constexpr const char* kLayoutFile = "layout.json";
inline constexpr const char* kIndexFile = "index.json";

struct CompileOptions {
  std::optional<std::string> node;  ///< only this node; default: every node of the model
  Emit emit = Emit::Obj;            ///< Llvm / Asm also keep the text of that stage
  CapacityOptions capacity;
  PolicyMapOptions maps;
};

/// Everything compiled for one node.
struct NodeArtifact {
  NodeTarget node;
  std::string object;  ///< ELF bytes (always built: the capacity check reads it)
  std::string text;    ///< Emit::Llvm: LLVM IR; Emit::Asm: BPF assembly; else empty
  nlohmann::json layout;
  CapacityReport capacity;
  size_t pods = 0;  ///< policy-managed pods placed on the node
};

struct CompileOutput {
  std::vector<NodeArtifact> nodes;  ///< in the model's node order
};

/// Runs the pipeline. User problems (ordered policies the datapath cannot fold, capacity over
/// kernel limits, HTTP rules the datapath cannot hold, an unknown --node) are diagnostics and
/// make the result an Error; HTTP rules are enforced by the datapath. Internal failures (the
/// embedded datapath does not compile) are Errors with the reason.
[[nodiscard]] ir::Result<CompileOutput> compile_policy(const ir::Model& m, const CompileOptions& opt,
                                                       ir::DiagnosticEngine& diags);

/// Writes the output directory. With one node and `flat`: DIR/polc.bpf.o and DIR/layout.json;
/// otherwise DIR/<node>/... per node and DIR/index.json naming them. Emit::Llvm / Emit::Asm
/// write polc.ll / polc.s instead of the object and layout.
[[nodiscard]] ir::Status write_output(const CompileOutput& out, const std::string& dir, bool flat, Emit emit);

}  // namespace polc::backend_bpf
