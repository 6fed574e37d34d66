// Labels and label selectors (Kubernetes semantics), used for pods, namespaces and entities.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "polc/ir/source.h"

namespace polc::ir {

using Labels = std::map<std::string, std::string>;

/// The label every namespace carries with its own name (Kubernetes >= 1.21).
inline constexpr const char* kNamespaceNameLabel = "kubernetes.io/metadata.name";

enum class SelectorOp { In, NotIn, Exists, DoesNotExist };

[[nodiscard]] const char* selector_op_name(SelectorOp op);

/// One requirement: `key op (values)`. matchLabels entries become `key In (value)`.
struct Requirement {
  std::string key;
  SelectorOp op = SelectorOp::Exists;
  std::vector<std::string> values;  ///< sorted, unique; empty for Exists/DoesNotExist
  friend auto operator<=>(const Requirement&, const Requirement&) = default;
  [[nodiscard]] bool matches(const Labels& labels) const;
};

/// A conjunction of requirements. No requirements = selects everything. `none` selects nothing
/// (used for peers that cannot match, e.g. a selector naming an impossible combination).
struct LabelSelector {
  std::vector<Requirement> reqs;  ///< sorted by key, then op
  bool none = false;
  friend auto operator<=>(const LabelSelector&, const LabelSelector&) = default;

  [[nodiscard]] bool matches(const Labels& labels) const;
  [[nodiscard]] bool matches_all() const { return !none && reqs.empty(); }
  /// Adds a requirement keeping the canonical order.
  void add(Requirement r);
  /// `app=web,tier in (a,b),!debug` style, "{}" for match-all, "<none>" for none.
  [[nodiscard]] std::string str() const;
  static LabelSelector everything() { return {}; }
  static LabelSelector nothing() { return LabelSelector{{}, true}; }
  static LabelSelector equals(std::string key, std::string value);
};

/// Selects endpoints (pods): namespace labels AND pod labels.
struct EndpointSelector {
  LabelSelector ns;   ///< over namespace labels (which include kubernetes.io/metadata.name)
  LabelSelector pod;  ///< over pod labels
  friend auto operator<=>(const EndpointSelector&, const EndpointSelector&) = default;
  [[nodiscard]] bool matches(const Labels& ns_labels, const Labels& pod_labels) const {
    return ns.matches(ns_labels) && pod.matches(pod_labels);
  }
  [[nodiscard]] std::string str() const;
};

}  // namespace polc::ir
