// Shared state while loading one set of inputs: the model being built and per-kind parsers.
#pragma once

#include <map>
#include <set>
#include <string>
#include <tuple>

#include "polc/frontend/loader.h"
#include "yaml_reader.h"

namespace polc::frontend {

struct LoadContext {
  ir::Model& model;
  ir::DiagnosticEngine& diags;
  LoadStats& stats;
  const LoadOptions& opt;
  /// (kind, namespace, name) -> location of the first definition, for duplicate-name.
  std::map<std::tuple<std::string, std::string, std::string>, ir::SourceLoc> seen;
  /// DaemonSets are expanded once all nodes are known.
  struct PendingDaemonSet {
    ir::Endpoint templ;
  };
  std::vector<PendingDaemonSet> daemonsets;

  /// Registers an object name; reports duplicate-name and returns false on a clash.
  bool claim_name(Reader& r, const Cursor& at, const std::string& kind, const std::string& ns, const std::string& name);
};

/// Common metadata of an object.
struct Meta {
  std::string name;
  std::string ns;
  ir::Labels labels;
  std::map<std::string, std::string> annotations;
  ir::SourceLoc loc;
  bool ok = false;
};

/// Reads `metadata` (name required unless `name_optional`; namespace defaults to "default" when
/// `namespaced`).
Meta read_meta(Reader& r, const Cursor& obj, bool namespaced, bool name_optional = false);

// Per-kind parsers. `obj` is the whole object (apiVersion, kind, metadata, ...).
void parse_namespace(LoadContext& ctx, Reader& r, const Cursor& obj);
void parse_node(LoadContext& ctx, Reader& r, const Cursor& obj);
void parse_pod(LoadContext& ctx, Reader& r, const Cursor& obj);
void parse_workload(LoadContext& ctx, Reader& r, const Cursor& obj, const std::string& kind);
void parse_service(LoadContext& ctx, Reader& r, const Cursor& obj);
void parse_network_policy(LoadContext& ctx, Reader& r, const Cursor& obj);
void parse_cilium_policy(LoadContext& ctx, Reader& r, const Cursor& obj, bool clusterwide);

/// Expands pending DaemonSets to one pod per node.
void expand_daemonsets(LoadContext& ctx);

}  // namespace polc::frontend
