#include "polc/ir/labels.h"

#include <algorithm>

namespace polc::ir {

const char* selector_op_name(SelectorOp op) {
  switch (op) {
    case SelectorOp::In: return "In";
    case SelectorOp::NotIn: return "NotIn";
    case SelectorOp::Exists: return "Exists";
    case SelectorOp::DoesNotExist: return "DoesNotExist";
  }
  return "?";
}

bool Requirement::matches(const Labels& labels) const {
  auto it = labels.find(key);
  bool has = it != labels.end();
  switch (op) {
    case SelectorOp::Exists: return has;
    case SelectorOp::DoesNotExist: return !has;
    case SelectorOp::In: return has && std::binary_search(values.begin(), values.end(), it->second);
    case SelectorOp::NotIn: return !has || !std::binary_search(values.begin(), values.end(), it->second);
  }
  return false;
}

bool LabelSelector::matches(const Labels& labels) const {
  if (none) return false;
  for (const auto& r : reqs)
    if (!r.matches(labels)) return false;
  return true;
}

void LabelSelector::add(Requirement r) {
  std::sort(r.values.begin(), r.values.end());
  r.values.erase(std::unique(r.values.begin(), r.values.end()), r.values.end());
  auto pos = std::lower_bound(reqs.begin(), reqs.end(), r);
  if (pos != reqs.end() && *pos == r) return;
  reqs.insert(pos, std::move(r));
}

LabelSelector LabelSelector::equals(std::string key, std::string value) {
  LabelSelector s;
  s.add(Requirement{std::move(key), SelectorOp::In, {std::move(value)}});
  return s;
}

std::string LabelSelector::str() const {
  if (none) return "<none>";
  if (reqs.empty()) return "{}";
  std::string s;
  for (const auto& r : reqs) {
    if (!s.empty()) s += ',';
    switch (r.op) {
      case SelectorOp::In:
        if (r.values.size() == 1) {
          s += r.key + '=' + r.values[0];
          continue;
        }
        s += r.key + " in (";
        break;
      case SelectorOp::NotIn:
        if (r.values.size() == 1) {
          s += r.key + "!=" + r.values[0];
          continue;
        }
        s += r.key + " notin (";
        break;
      case SelectorOp::Exists: s += r.key; continue;
      case SelectorOp::DoesNotExist: s += '!' + r.key; continue;
    }
    for (size_t i = 0; i < r.values.size(); ++i) s += (i ? "," : "") + r.values[i];
    s += ')';
  }
  return s;
}

std::string EndpointSelector::str() const {
  if (ns.matches_all()) return "pods {" + (pod.matches_all() ? std::string() : pod.str()) + "} in any namespace";
  return "pods {" + (pod.matches_all() ? std::string() : pod.str()) + "} in namespaces {" + ns.str() + "}";
}

}  // namespace polc::ir
