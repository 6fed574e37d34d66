#include "polc/frontend/loader.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "load_context.h"

namespace polc::frontend {

namespace fs = std::filesystem;
using ir::DiagId;

namespace {

const std::vector<std::string> kWorkloads{"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"};

void dispatch(LoadContext& ctx, Reader& r, const Cursor& obj, int depth);

void load_object(LoadContext& ctx, Reader& r, const Cursor& obj, int depth) {
  if (!obj.node.IsMap()) {
    if (obj.node.IsNull()) return;
    r.error(DiagId::WrongType, obj, "a Kubernetes object must be a map with 'apiVersion' and 'kind'");
    return;
  }
  dispatch(ctx, r, obj, depth);
}

void dispatch(LoadContext& ctx, Reader& r, const Cursor& obj, int depth) {
  Cursor kind_c = obj.child("kind");
  if (!kind_c.present()) {
    r.error(DiagId::MissingField, obj, "object has no 'kind'");
    return;
  }
  auto kind = r.string(kind_c);
  if (!kind) return;
  if (*kind == "List" ||
      (kind->size() > 4 && kind->substr(kind->size() - 4) == "List" && obj.child("items").defined())) {
    Cursor items = obj.child("items");
    if (depth > 4 || !items.present()) return;
    if (!r.expect_list(items)) return;
    for (size_t i = 0; i < items.node.size(); ++i) load_object(ctx, r, items.item(i), depth + 1);
    return;
  }
  ctx.stats.kinds[*kind]++;
  if (*kind == "Namespace") return parse_namespace(ctx, r, obj);
  if (*kind == "Node") return parse_node(ctx, r, obj);
  if (*kind == "Pod") return parse_pod(ctx, r, obj);
  if (std::find(kWorkloads.begin(), kWorkloads.end(), *kind) != kWorkloads.end())
    return parse_workload(ctx, r, obj, *kind);
  if (*kind == "Service") return parse_service(ctx, r, obj);
  if (*kind == "NetworkPolicy") return parse_network_policy(ctx, r, obj);
  if (*kind == "CiliumNetworkPolicy") return parse_cilium_policy(ctx, r, obj, false);
  if (*kind == "CiliumClusterwideNetworkPolicy") return parse_cilium_policy(ctx, r, obj, true);
  ctx.stats.kinds[*kind]--;
  if (ctx.stats.kinds[*kind] == 0) ctx.stats.kinds.erase(*kind);
  ctx.stats.skipped[*kind]++;
  // A near-miss of a kind polc reads is most likely a typo.
  std::vector<std::string> known{
      "Namespace", "Node", "Pod", "Service", "NetworkPolicy", "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"};
  known.insert(known.end(), kWorkloads.begin(), kWorkloads.end());
  if (auto best = ir::closest_match(*kind, known))
    r.warn(DiagId::SkippedKind, kind_c, "unknown kind '" + *kind + "'; did you mean '" + *best + "'?");
  else if (ctx.opt.verbose)
    ctx.diags.report(DiagId::SkippedKind, ir::Severity::Note, r.loc(kind_c), "skipped object of kind '" + *kind + "'");
}

/// Counts nothing; lets the parser run over a document's events.
class IgnoreEvents : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { start = mark; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
  YAML::Mark start;
};

/// yaml-cpp 0.7 never returns from LoadAll (allocating without bound) when a document starts
/// with a stray ',' (jbeder/yaml-cpp#1040): the parser keeps reporting an empty document at the
/// same position. A first pass over the events finds that position. Throws like LoadAll on
/// other syntax errors.
std::optional<YAML::Mark> document_without_progress(const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  IgnoreEvents events;
  int last = -1;
  while (parser.HandleNextDocument(events)) {
    if (events.start.pos == last) return events.start;
    last = events.start.pos;
  }
  return std::nullopt;
}

/// Offset of the first byte that is not part of well-formed UTF-8 (npos when the text is valid).
/// yaml-cpp passes such bytes through; Kubernetes objects must be UTF-8 text.
size_t first_invalid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return i;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    bool overlong = (len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return std::string::npos;
}

void load_document_text(LoadContext& ctx, uint32_t file, const std::string& text) {
  Reader r(ctx.diags, file);
  ctx.stats.files++;
  if (size_t bad = first_invalid_utf8(text); bad != std::string::npos) {
    uint32_t line = 1 + static_cast<uint32_t>(std::count(text.begin(), text.begin() + static_cast<long>(bad), '\n'));
    size_t line_start = text.rfind('\n', bad == 0 ? std::string::npos : bad - 1);
    uint32_t col = static_cast<uint32_t>(bad - (line_start == std::string::npos ? 0 : line_start + 1)) + 1;
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[bad]));
    ctx.diags.report(DiagId::YamlSyntax, ir::SourceLoc{file, line, col},
                     std::string("invalid UTF-8 byte ") + hex + "; Kubernetes objects must be UTF-8 text");
    return;
  }
  try {
    if (auto stuck = document_without_progress(text)) {
      ctx.diags.report(
          DiagId::YamlSyntax,
          ir::SourceLoc{file, static_cast<uint32_t>(stuck->line + 1), static_cast<uint32_t>(stuck->column + 1)},
          "invalid YAML: unexpected ',' outside a flow collection");
      return;
    }
    std::vector<YAML::Node> docs = YAML::LoadAll(text);
    for (const auto& d : docs) {
      if (d.IsNull() || !d.IsDefined()) continue;
      ctx.stats.documents++;
      load_object(ctx, r, Cursor{d, ""}, 0);
      if (ctx.diags.limit_exceeded()) return;
    }
  } catch (const YAML::Exception& e) {
    ir::SourceLoc loc{file, static_cast<uint32_t>(e.mark.line + 1), static_cast<uint32_t>(e.mark.column + 1)};
    if (e.mark.is_null()) loc = ir::SourceLoc{file, 1, 1};
    ctx.diags.report(DiagId::YamlSyntax, loc, "invalid YAML: " + e.msg);
  } catch (const std::exception& e) {
    ctx.diags.report(DiagId::YamlSyntax, ir::SourceLoc{file, 1, 1}, std::string("cannot parse: ") + e.what());
  }
}

bool wanted(const fs::path& p) {
  auto ext = p.extension().string();
  return ext == ".yaml" || ext == ".yml" || ext == ".json";
}

std::optional<std::string> read_file(const fs::path& p, std::string* err) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    *err = "cannot open '" + p.string() + "'";
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    *err = "cannot read '" + p.string() + "'";
    return std::nullopt;
  }
  return ss.str();
}

/// LoadOptions::nodes: N synthetic nodes for an inventory that places its pods nowhere (or all
/// on one named node), so that finalize_model spreads them as `polnode lab up --nodes N` does.
void add_synthetic_nodes(LoadContext& ctx) {
  ir::Model& m = ctx.model;
  std::set<std::string> named;
  for (const auto& e : m.endpoints)
    if (!e.node_name.empty()) named.insert(e.node_name);
  if (ctx.opt.nodes <= 1 || !m.nodes.empty() || named.size() > 1) return;
  for (auto& e : m.endpoints) e.node_name.clear();
  for (uint32_t i = 0; i < ctx.opt.nodes; ++i) {
    ir::Node n;
    n.id = ir::NodeId(i);
    n.name = "node-" + std::to_string(i + 1);
    n.synthetic = true;
    n.labels["kubernetes.io/hostname"] = n.name;
    n.ip = ir::Ipv4{m.config.node_cidr.first() + 2 + i};
    m.nodes.push_back(std::move(n));
  }
}

void finish(LoadContext& ctx) {
  expand_daemonsets(ctx);
  add_synthetic_nodes(ctx);
  ir::finalize_model(ctx.model, ctx.diags);
}

}  // namespace

LoadResult load_inputs(const std::vector<std::string>& paths, ir::DiagnosticEngine& diags, const LoadOptions& opt) {
  LoadResult res;
  LoadContext ctx{res.model, diags, res.stats, opt, {}, {}};
  for (const auto& arg : paths) {
    if (arg == "-") {
      std::ostringstream ss;
      ss << std::cin.rdbuf();
      uint32_t f = res.model.sources.add("<stdin>", ss.str());
      load_document_text(ctx, f, res.model.sources.text(f));
      continue;
    }
    std::error_code ec;
    fs::path p(arg);
    auto st = fs::status(p, ec);
    if (ec || !fs::exists(st)) {
      diags.report(DiagId::IoError, {}, "no such file or directory: '" + arg + "'");
      continue;
    }
    std::vector<fs::path> files;
    if (fs::is_directory(st)) {
      for (auto it = fs::recursive_directory_iterator(p, fs::directory_options::skip_permission_denied, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_regular_file(ec) && wanted(it->path())) files.push_back(it->path());
      }
      if (ec) diags.report(DiagId::IoError, {}, "cannot list '" + arg + "': " + ec.message());
      std::sort(files.begin(), files.end());
    } else {
      files.push_back(p);
    }
    for (const auto& f : files) {
      std::string err;
      auto text = read_file(f, &err);
      if (!text) {
        diags.report(DiagId::IoError, {}, err);
        continue;
      }
      uint32_t id = res.model.sources.add(f.string(), std::move(*text));
      load_document_text(ctx, id, res.model.sources.text(id));
      if (diags.limit_exceeded()) break;
    }
  }
  finish(ctx);
  return res;
}

LoadResult load_text(const std::string& name, const std::string& text, ir::DiagnosticEngine& diags,
                     const LoadOptions& opt) {
  LoadResult res;
  LoadContext ctx{res.model, diags, res.stats, opt, {}, {}};
  uint32_t id = res.model.sources.add(name, text);
  load_document_text(ctx, id, res.model.sources.text(id));
  finish(ctx);
  return res;
}

}  // namespace polc::frontend
