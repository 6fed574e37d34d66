#include "polc/frontend/loader.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
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
  if (*kind == "List" || (kind->size() > 4 && kind->substr(kind->size() - 4) == "List" && obj.child("items").defined())) {
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
  std::vector<std::string> known{"Namespace", "Node", "Pod", "Service", "NetworkPolicy", "CiliumNetworkPolicy",
                                 "CiliumClusterwideNetworkPolicy"};
  known.insert(known.end(), kWorkloads.begin(), kWorkloads.end());
  if (auto best = ir::closest_match(*kind, known))
    r.warn(DiagId::SkippedKind, kind_c, "unknown kind '" + *kind + "'; did you mean '" + *best + "'?");
  else if (ctx.opt.verbose)
    ctx.diags.report(DiagId::SkippedKind, ir::Severity::Note, r.loc(kind_c), "skipped object of kind '" + *kind + "'");
}

void load_document_text(LoadContext& ctx, uint32_t file, const std::string& text) {
  Reader r(ctx.diags, file);
  ctx.stats.files++;
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(text);
    for (const auto& d : docs) {
      if (d.IsNull() || !d.IsDefined()) continue;
      ctx.stats.documents++;
      load_object(ctx, r, Cursor{d, ""}, 0);
      if (ctx.diags.limit_reached()) return;
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

void finish(LoadContext& ctx) {
  expand_daemonsets(ctx);
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
      if (diags.limit_reached()) break;
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
