// Reading YAML nodes with locations and schema checks; every problem becomes a diagnostic.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "polc/ir/diagnostic.h"
#include "polc/ir/labels.h"
#include "polc/ir/source.h"

namespace polc::frontend {

/// A YAML node plus the dotted path that reached it ("spec.ingress[0].from").
struct Cursor {
  YAML::Node node;
  std::string path;
  YAML::Mark key_mark = YAML::Mark::null_mark();  ///< where the key naming this node sits
  [[nodiscard]] Cursor child(const std::string& key) const;
  [[nodiscard]] Cursor item(size_t i) const;
  [[nodiscard]] bool present() const { return node.IsDefined() && !node.IsNull(); }
  [[nodiscard]] bool defined() const { return node.IsDefined(); }
};

class Reader {
 public:
  Reader(ir::DiagnosticEngine& diags, uint32_t file) : diags_(diags), file_(file) {}

  [[nodiscard]] ir::SourceLoc loc(const YAML::Node& n) const;
  [[nodiscard]] ir::SourceLoc loc(const Cursor& c) const;
  /// Location of the key `key` inside map `m` (falls back to the map).
  [[nodiscard]] ir::SourceLoc key_loc(const Cursor& m, std::string_view key) const;
  [[nodiscard]] uint32_t file() const { return file_; }
  ir::DiagnosticEngine& diags() { return diags_; }

  void error(ir::DiagId id, const Cursor& at, std::string msg, std::string hint = {});
  void warn(ir::DiagId id, const Cursor& at, std::string msg, std::string hint = {});

  /// True for a map (null counts as an empty map when `null_ok`). Reports wrong-type otherwise.
  bool expect_map(const Cursor& c, bool null_ok = true);
  bool expect_list(const Cursor& c, bool null_ok = true);
  /// Warns about keys not in `known`, suggesting the closest valid one; reports duplicate keys.
  void check_fields(const Cursor& map, const std::vector<std::string>& known);

  std::optional<std::string> string(const Cursor& c);
  /// An integer scalar; a quoted string is a wrong-type error unless `allow_quoted`.
  std::optional<int64_t> integer(const Cursor& c, bool allow_quoted = false);
  std::optional<bool> boolean(const Cursor& c);
  /// A list of strings (a single string is a wrong-type error).
  std::vector<std::string> string_list(const Cursor& c);
  /// A string->string map (labels, annotations, matchLabels), validated as labels when asked.
  ir::Labels string_map(const Cursor& c, bool validate_as_labels);
  /// Is the scalar quoted in the source (so `"80"` is a string, `80` a number)?
  [[nodiscard]] static bool quoted(const YAML::Node& n) { return n.Tag() == "!"; }

  /// matchLabels / matchExpressions, with Kubernetes validation.
  /// `k8s_keys`: validate keys as Kubernetes label keys (Cilium keys may carry a `source:` prefix).
  std::optional<ir::LabelSelector> selector(const Cursor& c, bool k8s_keys = true);

 private:
  /// Reports `key` when `seen` already has it (returns true); otherwise records it.
  bool check_duplicate_key(const Cursor& map, const YAML::Node& key, std::map<std::string, YAML::Node>& seen);

  ir::DiagnosticEngine& diags_;
  uint32_t file_;
};

/// Kubernetes validation helpers: empty string when valid, else the reason.
[[nodiscard]] std::string validate_label_key(std::string_view key);
[[nodiscard]] std::string validate_label_value(std::string_view value);
[[nodiscard]] std::string validate_port_name(std::string_view name);  ///< IANA_SVC_NAME
[[nodiscard]] std::string validate_dns_subdomain(std::string_view name);

/// The standard ObjectMeta fields (for unknown-field checks).
[[nodiscard]] const std::vector<std::string>& object_meta_fields();

}  // namespace polc::frontend
