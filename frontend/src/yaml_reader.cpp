#include "yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>

namespace polc::frontend {

using ir::DiagId;

// yaml-cpp returns an invalid "zombie" node for a missing key, and every type query on it
// throws; a Cursor holds a valid node of type Undefined instead.
Cursor Cursor::child(const std::string& key) const {
  std::string p = path.empty() ? key : path + "." + key;
  if (node.IsDefined() && node.IsMap()) {
    for (auto it = node.begin(); it != node.end(); ++it)
      if (it->first.IsScalar() && it->first.Scalar() == key) return Cursor{it->second, p, it->first.Mark()};
  }
  return Cursor{YAML::Node(YAML::NodeType::Undefined), p, node.IsDefined() ? node.Mark() : YAML::Mark::null_mark()};
}

Cursor Cursor::item(size_t i) const {
  std::string p = path + "[" + std::to_string(i) + "]";
  if (node.IsDefined() && node.IsSequence() && i < node.size()) {
    const YAML::Node& cn = node;
    return Cursor{cn[i], p};
  }
  return Cursor{YAML::Node(YAML::NodeType::Undefined), p, node.IsDefined() ? node.Mark() : YAML::Mark::null_mark()};
}

ir::SourceLoc Reader::loc(const Cursor& c) const {
  // Scalars are reported at their value; maps and lists at the key that names them (the value's
  // own mark is the position of its first entry, often a line further down).
  bool scalar = c.node.IsDefined() && c.node.IsScalar();
  if (!scalar && !c.key_mark.is_null())
    return ir::SourceLoc{file_, static_cast<uint32_t>(c.key_mark.line + 1),
                         static_cast<uint32_t>(c.key_mark.column + 1)};
  return loc(c.node);
}

ir::SourceLoc Reader::loc(const YAML::Node& n) const {
  if (!n.IsDefined()) return ir::SourceLoc{file_, 0, 0};
  auto m = n.Mark();
  if (m.is_null()) return ir::SourceLoc{file_, 0, 0};
  return ir::SourceLoc{file_, static_cast<uint32_t>(m.line + 1), static_cast<uint32_t>(m.column + 1)};
}

ir::SourceLoc Reader::key_loc(const Cursor& m, std::string_view key) const {
  if (m.node.IsMap())
    for (auto it = m.node.begin(); it != m.node.end(); ++it)
      if (it->first.IsScalar() && it->first.Scalar() == key) return loc(it->first);
  return loc(m.node);
}

void Reader::error(DiagId id, const Cursor& at, std::string msg, std::string hint) {
  diags_.report(id, ir::Severity::Error, loc(at), std::move(msg), std::move(hint));
}

void Reader::warn(DiagId id, const Cursor& at, std::string msg, std::string hint) {
  diags_.report(id, ir::Severity::Warning, loc(at), std::move(msg), std::move(hint));
}

namespace {

const char* type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: return "a scalar";
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Undefined: return "nothing";
  }
  return "?";
}

bool digit(char c) {
  return std::isdigit(static_cast<unsigned char>(c)) != 0;
}

/// A plain scalar go-yaml resolves to an int or a float: [-+]? then 0x.., 0b.., [0-9][0-9_]*,
/// (\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?, .inf, or .nan (unsigned). Hand-written:
/// std::regex recurses per character and overflows the stack on long scalars.
bool yaml_number(std::string_view s) {
  size_t i = !s.empty() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  std::string_view t = s.substr(i);
  if (t == ".inf" || t == ".Inf" || t == ".INF") return true;
  if (i == 0 && (t == ".nan" || t == ".NaN" || t == ".NAN")) return true;
  auto all = [&](std::string_view v, auto pred) { return !v.empty() && std::all_of(v.begin(), v.end(), pred); };
  if (t.size() > 2 && t[0] == '0' && t[1] == 'x')
    return all(t.substr(2), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) || c == '_'; });
  if (t.size() > 2 && t[0] == '0' && t[1] == 'b')
    return all(t.substr(2), [](char c) { return c == '0' || c == '1' || c == '_'; });
  if (!t.empty() && digit(t[0]) && all(t, [](char c) { return digit(c) || c == '_'; })) return true;
  size_t j = 0, whole = 0, frac = 0;
  while (j < t.size() && digit(t[j])) ++j, ++whole;
  if (j < t.size() && t[j] == '.') {
    ++j;
    while (j < t.size() && digit(t[j])) ++j, ++frac;
  }
  if (whole == 0 && frac == 0) return false;
  if (j < t.size() && (t[j] == 'e' || t[j] == 'E')) {
    ++j;
    if (j < t.size() && (t[j] == '+' || t[j] == '-')) ++j;
    size_t exp = 0;
    while (j < t.size() && digit(t[j])) ++j, ++exp;
    if (exp == 0) return false;
  }
  return j == t.size();
}

/// What Kubernetes' YAML reading (go-yaml, with YAML 1.1 booleans) makes of an unquoted scalar
/// that is not a string: "number", "boolean", or "" for a string. Quoted and tagged scalars are
/// strings.
std::string plain_non_string(const YAML::Node& n) {
  if (!n.IsScalar() || n.Tag() != "?") return "";
  const std::string& s = n.Scalar();
  static const std::set<std::string> booleans{"true", "True", "TRUE", "false", "False", "FALSE", "yes", "Yes", "YES",
                                              "no",   "No",   "NO",   "on",    "On",    "ON",    "off", "Off", "OFF"};
  if (booleans.count(s)) return "boolean";
  if (yaml_number(s)) return "number";
  return "";
}

}  // namespace

bool Reader::expect_map(const Cursor& c, bool null_ok) {
  if (c.node.IsMap() || (null_ok && c.node.IsNull())) return true;
  error(DiagId::WrongType, c, "'" + c.path + "' must be a map, found " + type_name(c.node));
  return false;
}

bool Reader::expect_list(const Cursor& c, bool null_ok) {
  if (c.node.IsSequence() || (null_ok && c.node.IsNull())) return true;
  error(DiagId::WrongType, c, "'" + c.path + "' must be a list, found " + type_name(c.node),
        c.node.IsMap() ? "start each entry with '- '" : "");
  return false;
}

bool Reader::check_duplicate_key(const Cursor& map, const YAML::Node& key, std::map<std::string, YAML::Node>& seen) {
  auto [it, fresh] = seen.emplace(key.Scalar(), key);
  if (fresh) return false;
  // yaml-cpp keeps both entries; Kubernetes (go-yaml) rejects the object.
  std::string where = map.path.empty() ? "" : " in '" + map.path + "'";
  if (auto* d = diags_.report(DiagId::YamlSyntax, loc(key), "duplicate key '" + key.Scalar() + "'" + where))
    d->notes.push_back({loc(it->second), "first defined here"});
  return true;
}

void Reader::check_fields(const Cursor& map, const std::vector<std::string>& known) {
  if (!map.node.IsMap()) return;
  std::map<std::string, YAML::Node> seen;
  for (auto it = map.node.begin(); it != map.node.end(); ++it) {
    if (!it->first.IsScalar()) {
      diags_.report(DiagId::WrongType, loc(it->first), "map keys in '" + map.path + "' must be strings");
      continue;
    }
    const std::string& k = it->first.Scalar();
    if (check_duplicate_key(map, it->first, seen)) continue;
    if (std::find(known.begin(), known.end(), k) != known.end()) continue;
    std::string where = map.path.empty() ? "" : " in '" + map.path + "'";
    auto best = ir::closest_match(k, known);
    diags_.report(DiagId::UnknownField, loc(it->first),
                  "unknown field '" + k + "'" + where + (best ? "; did you mean '" + *best + "'?" : ""),
                  best ? "rename '" + k + "' to '" + *best + "'" : "");
  }
}

std::optional<std::string> Reader::string(const Cursor& c) {
  if (!c.node.IsScalar()) {
    error(DiagId::WrongType, c, "'" + c.path + "' must be a string, found " + type_name(c.node));
    return std::nullopt;
  }
  if (auto t = plain_non_string(c.node); !t.empty()) {
    error(DiagId::WrongType, c, "'" + c.path + "' must be a string, found the " + t + " " + c.node.Scalar(),
          "quote it: \"" + c.node.Scalar() + "\"");
    return std::nullopt;
  }
  return c.node.Scalar();
}

std::optional<int64_t> Reader::integer(const Cursor& c, bool allow_quoted) {
  if (!c.node.IsScalar() || (quoted(c.node) && !allow_quoted)) {
    error(DiagId::WrongType, c,
          "'" + c.path + "' must be a number, found " + (c.node.IsScalar() ? "a string" : type_name(c.node)));
    return std::nullopt;
  }
  const std::string& s = c.node.Scalar();
  bool neg = !s.empty() && s[0] == '-';
  if (s.empty() || s.size() > 12 ||
      !std::all_of(s.begin() + (neg ? 1 : 0), s.end(),
                   [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); }) ||
      (neg && s.size() == 1)) {
    error(DiagId::WrongType, c, "'" + c.path + "' must be a number, found '" + s + "'");
    return std::nullopt;
  }
  return std::stoll(s);
}

std::optional<bool> Reader::boolean(const Cursor& c) {
  if (c.node.IsScalar() && !quoted(c.node)) {
    const std::string& s = c.node.Scalar();
    // Kubernetes reads YAML 1.1 booleans (go-yaml): yes/no and on/off too.
    for (const char* t : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"})
      if (s == t) return true;
    for (const char* f : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"})
      if (s == f) return false;
  }
  error(DiagId::WrongType, c, "'" + c.path + "' must be true or false");
  return std::nullopt;
}

std::vector<std::string> Reader::string_list(const Cursor& c) {
  std::vector<std::string> out;
  if (!expect_list(c)) return out;
  for (size_t i = 0; i < c.node.size(); ++i)
    if (auto s = string(c.item(i))) out.push_back(*s);
  return out;
}

ir::Labels Reader::string_map(const Cursor& c, bool validate_as_labels) {
  ir::Labels out;
  if (!expect_map(c)) return out;
  std::map<std::string, YAML::Node> seen;
  for (auto it = c.node.begin(); it != c.node.end(); ++it) {
    if (!it->first.IsScalar()) continue;
    const std::string& k = it->first.Scalar();
    if (check_duplicate_key(c, it->first, seen)) continue;
    Cursor v{it->second, c.path + "." + k};
    std::string value;
    if (it->second.IsNull()) {
      value = "";
    } else if (auto t = plain_non_string(it->second); !t.empty()) {
      error(DiagId::WrongType, v, "'" + v.path + "' must be a string, found the " + t + " " + it->second.Scalar(),
            "quote it: \"" + it->second.Scalar() + "\"");
      continue;
    } else if (it->second.IsScalar()) {
      value = it->second.Scalar();
    } else {
      error(DiagId::WrongType, v, "'" + v.path + "' must be a string, found " + type_name(it->second));
      continue;
    }
    if (validate_as_labels) {
      if (auto why = validate_label_key(k); !why.empty()) {
        diags_.report(DiagId::InvalidLabel, loc(it->first), "invalid label key '" + k + "': " + why);
        continue;
      }
      if (auto why = validate_label_value(value); !why.empty()) {
        error(DiagId::InvalidLabel, v, "invalid label value '" + value + "' for '" + k + "': " + why);
        continue;
      }
    }
    out[k] = value;
  }
  return out;
}

std::optional<ir::LabelSelector> Reader::selector(const Cursor& c, bool k8s_keys) {
  if (!expect_map(c)) return std::nullopt;
  check_fields(c, {"matchLabels", "matchExpressions"});
  ir::LabelSelector sel;
  bool ok = true;
  size_t before = diags_.error_count();
  if (auto ml = c.child("matchLabels"); ml.present())
    for (const auto& [k, v] : string_map(ml, k8s_keys)) sel.add(ir::Requirement{k, ir::SelectorOp::In, {v}});
  if (auto me = c.child("matchExpressions"); me.present() && expect_list(me)) {
    for (size_t i = 0; i < me.node.size(); ++i) {
      Cursor e = me.item(i);
      if (!expect_map(e, false)) {
        ok = false;
        continue;
      }
      check_fields(e, {"key", "operator", "values"});
      auto key = e.child("key");
      auto op = e.child("operator");
      if (!key.present()) {
        error(DiagId::MissingField, e, "'" + e.path + "' needs a 'key'");
        ok = false;
        continue;
      }
      if (!op.present()) {
        error(DiagId::MissingField, e, "'" + e.path + "' needs an 'operator' (In, NotIn, Exists, DoesNotExist)");
        ok = false;
        continue;
      }
      auto k = string(key);
      auto o = string(op);
      if (!k || !o) {
        ok = false;
        continue;
      }
      if (auto why = k8s_keys ? validate_label_key(*k) : std::string(); !why.empty()) {
        error(DiagId::InvalidLabel, key, "invalid label key '" + *k + "': " + why);
        ok = false;
        continue;
      }
      ir::Requirement r;
      r.key = *k;
      static const std::vector<std::string> ops{"In", "NotIn", "Exists", "DoesNotExist"};
      if (*o == "In")
        r.op = ir::SelectorOp::In;
      else if (*o == "NotIn")
        r.op = ir::SelectorOp::NotIn;
      else if (*o == "Exists")
        r.op = ir::SelectorOp::Exists;
      else if (*o == "DoesNotExist")
        r.op = ir::SelectorOp::DoesNotExist;
      else {
        auto best = ir::closest_match(*o, ops);
        error(DiagId::InvalidSelector, op,
              "unknown selector operator '" + *o + "'; expected In, NotIn, Exists or DoesNotExist",
              best ? "did you mean '" + *best + "'?" : "");
        ok = false;
        continue;
      }
      auto vals = e.child("values");
      if (vals.present()) r.values = string_list(vals);
      bool needs_values = r.op == ir::SelectorOp::In || r.op == ir::SelectorOp::NotIn;
      if (needs_values && r.values.empty()) {
        error(DiagId::InvalidSelector, vals.defined() ? vals : op,
              std::string("operator ") + ir::selector_op_name(r.op) + " needs at least one value");
        ok = false;
        continue;
      }
      if (!needs_values && !r.values.empty()) {
        error(DiagId::InvalidSelector, vals,
              std::string("operator ") + ir::selector_op_name(r.op) + " takes no values");
        ok = false;
        continue;
      }
      for (const auto& v : r.values)
        if (auto why = validate_label_value(v); !why.empty()) {
          error(DiagId::InvalidLabel, vals, "invalid label value '" + v + "': " + why);
          ok = false;
        }
      sel.add(std::move(r));
    }
  }
  if (!ok || diags_.error_count() != before) return std::nullopt;
  return sel;
}

namespace {

bool is_alnum(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0;
}

std::string validate_name_part(std::string_view s, size_t max) {
  if (s.empty()) return "name part must not be empty";
  if (s.size() > max) return "must be at most " + std::to_string(max) + " characters";
  if (!is_alnum(s.front()) || !is_alnum(s.back())) return "must start and end with a letter or digit";
  for (char c : s)
    if (!is_alnum(c) && c != '-' && c != '_' && c != '.') return std::string("invalid character '") + c + "'";
  return {};
}

}  // namespace

std::string validate_dns_subdomain(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 253) return "must be at most 253 characters";
  for (char c : name)
    if (!(std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) || c == '-' ||
          c == '.'))
      return std::string("invalid character '") + c + "' (lower-case letters, digits, '-' and '.' only)";
  if (!is_alnum(name.front()) || !is_alnum(name.back())) return "must start and end with a letter or digit";
  return {};
}

std::string validate_label_key(std::string_view key) {
  auto slash = key.find('/');
  std::string_view name = key;
  if (slash != std::string_view::npos) {
    auto prefix = key.substr(0, slash);
    if (auto why = validate_dns_subdomain(prefix); !why.empty()) return "prefix " + why;
    name = key.substr(slash + 1);
  }
  return validate_name_part(name, 63);
}

std::string validate_label_value(std::string_view value) {
  if (value.empty()) return {};
  return validate_name_part(value, 63);
}

std::string validate_port_name(std::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > 15) return "must be at most 15 characters";
  bool letter = false;
  for (char c : name) {
    if (std::islower(static_cast<unsigned char>(c)))
      letter = true;
    else if (!std::isdigit(static_cast<unsigned char>(c)) && c != '-')
      return std::string("invalid character '") + c + "' (lower-case letters, digits and '-' only)";
  }
  if (!letter) return "must contain at least one letter";
  if (name.front() == '-' || name.back() == '-') return "must not start or end with '-'";
  if (name.find("--") != std::string_view::npos) return "must not contain '--'";
  return {};
}

const std::vector<std::string>& object_meta_fields() {
  static const std::vector<std::string> f{"name",
                                          "namespace",
                                          "labels",
                                          "annotations",
                                          "uid",
                                          "resourceVersion",
                                          "generation",
                                          "creationTimestamp",
                                          "deletionTimestamp",
                                          "deletionGracePeriodSeconds",
                                          "managedFields",
                                          "ownerReferences",
                                          "finalizers",
                                          "generateName",
                                          "selfLink"};
  return f;
}

}  // namespace polc::frontend
