#include "polc/ir/diagnostic_formats.h"

#include <map>

namespace polc::ir {

using nlohmann::json;

namespace {

std::string file_of(const SourceManager& sm, SourceLoc loc, const FormatOptions& opt) {
  if (loc.file == 0) return "";
  std::string p = sm.path(loc.file);
  if (!opt.strip_prefix.empty() && p.rfind(opt.strip_prefix, 0) == 0) p = p.substr(opt.strip_prefix.size());
  return p;
}

const char* sarif_level(Severity s) {
  switch (s) {
    case Severity::Error: return "error";
    case Severity::Warning: return "warning";
    case Severity::Info:
    case Severity::Note: return "note";
  }
  return "none";
}

std::string camel(std::string_view kebab) {
  std::string out;
  bool up = true;
  for (char c : kebab) {
    if (c == '-') {
      up = true;
      continue;
    }
    out += up ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    up = false;
  }
  return out;
}

json physical(const SourceManager& sm, SourceLoc loc, const FormatOptions& opt) {
  json region = {{"startLine", std::max<uint32_t>(loc.line, 1)}};
  if (loc.col) region["startColumn"] = loc.col;
  return {{"artifactLocation", {{"uri", file_of(sm, loc, opt)}, {"uriBaseId", "%SRCROOT%"}}}, {"region", region}};
}

}  // namespace

json diagnostics_json(const std::vector<Diagnostic>& diags, const SourceManager& sm, const FormatOptions& opt) {
  json out = json::array();
  std::map<std::string, size_t> counts;
  for (const auto& d : diags) {
    json j{{"id", std::string(diag_spec(d.id).name)},
           {"severity", std::string(severity_name(d.severity))},
           {"message", d.message}};
    if (d.loc.file) {
      j["file"] = file_of(sm, d.loc, opt);
      j["line"] = d.loc.line;
      j["column"] = d.loc.col;
    }
    json notes = json::array();
    for (const auto& n : d.notes) {
      json jn{{"message", n.message}};
      if (n.loc.file) {
        jn["file"] = file_of(sm, n.loc, opt);
        jn["line"] = n.loc.line;
        jn["column"] = n.loc.col;
      }
      notes.push_back(jn);
    }
    j["notes"] = notes;
    if (!d.hint.empty()) j["hint"] = d.hint;
    out.push_back(j);
    counts[std::string(severity_name(d.severity))]++;
  }
  json summary = json::object();
  for (const char* s : {"error", "warning", "info", "note"}) summary[s] = counts[s];
  return {{"diagnostics", out}, {"summary", summary}};
}

json diagnostics_sarif(const std::vector<Diagnostic>& diags, const SourceManager& sm, const FormatOptions& opt) {
  // Rules: every catalog entry that occurs, in catalog order (stable ruleIndex).
  std::map<DiagId, size_t> index;
  for (const auto& d : diags) index[d.id] = 0;
  json rules = json::array();
  for (auto& [id, i] : index) {
    const DiagSpec& s = diag_spec(id);
    i = rules.size();
    rules.push_back({{"id", std::string(s.name)},
                     {"name", camel(s.name)},
                     {"shortDescription", {{"text", std::string(s.description)}}},
                     {"defaultConfiguration", {{"level", sarif_level(s.severity)}}},
                     {"properties", {{"group", std::string(s.group)}}}});
  }
  json results = json::array();
  for (const auto& d : diags) {
    json r{{"ruleId", std::string(diag_spec(d.id).name)},
           {"ruleIndex", index[d.id]},
           {"level", sarif_level(d.severity)},
           {"message", {{"text", d.message}}}};
    if (d.loc.file) r["locations"] = json::array({{{"physicalLocation", physical(sm, d.loc, opt)}}});
    json related = json::array();
    int id = 0;
    for (const auto& n : d.notes) {
      if (!n.loc.file) continue;
      related.push_back(
          {{"id", id++}, {"physicalLocation", physical(sm, n.loc, opt)}, {"message", {{"text", n.message}}}});
    }
    if (!related.empty()) r["relatedLocations"] = related;
    json props = json::object();
    if (!d.hint.empty()) props["hint"] = d.hint;
    std::vector<std::string> unplaced;
    for (const auto& n : d.notes)
      if (!n.loc.file) unplaced.push_back(n.message);
    if (!unplaced.empty()) props["notes"] = unplaced;
    if (!props.empty()) r["properties"] = props;
    results.push_back(r);
  }
  json run{{"tool",
            {{"driver",
              {{"name", "polc"},
               {"version", opt.tool_version},
               {"informationUri", "https://github.com/polc-dev/polc"},
               {"rules", rules}}}}},
           {"results", results},
           {"columnKind", "unicodeCodePoints"}};
  return {
      {"$schema", "https://json.schemastore.org/sarif-2.1.0.json"}, {"version", "2.1.0"}, {"runs", json::array({run})}};
}

}  // namespace polc::ir
