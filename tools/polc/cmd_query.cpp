// polc query: answer reachability questions with the Z3 encoding (can A reach B), list who can
// reach an endpoint / what it can reach (policy tables), or answer a batch file of probes.
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "common.h"
#include "polc/frontend/query_parser.h"
#include "polc/ir/policy_tables.h"
#include "polc/verifier/connectivity.h"
#include "polc/verifier/explain.h"
#include "polc/verifier/reach.h"
#include "polc/verifier/resolve.h"

namespace polc::cli {

namespace {

struct QueryOpts {
  InputOptions in;
  std::string format = "text";
  std::string batch;
  bool debug_smt = false;
};

/// Diagnostics about the question itself (their source is the command line or the batch file).
void print_query_diagnostics(const ir::DiagnosticEngine& diags, const ir::SourceManager& sm, const InputOptions& in) {
  print_diagnostics(diags, sm, in);
}

int answer_question(const ir::Model& m, const std::string& text, const QueryOpts& o) {
  ir::SourceManager qsm;
  uint32_t file = qsm.add("<question>", text);
  ir::DiagnosticEngine diags;
  auto q = frontend::parse_query(text, frontend::QueryMode::Question, ir::SourceLoc{file, 1, 1}, diags);
  if (!q) {
    print_query_diagnostics(diags, qsm, o.in);
    return kInputError;
  }
  if (q->kind == ir::QueryKind::Who || q->kind == ir::QueryKind::What) {
    bool who = q->kind == ir::QueryKind::Who;
    auto side = verifier::resolve_endpoint(m, who ? *q->dst : *q->src, *q, who, diags);
    if (!side) {
      print_query_diagnostics(diags, qsm, o.in);
      return kInputError;
    }
    std::optional<uint16_t> port;
    std::optional<uint8_t> proto = q->proto;
    bool per_candidate = !side->named_port.empty() || (q->dst && q->dst->kind == ir::QueryEndpoint::Kind::Service);
    if (who && q->port && q->port->number && !per_candidate) {
      port = *q->port->number;
      if (!proto) proto = 6;
    }
    if (side->candidates.empty() && !side->external) {
      diags.report(ir::DiagId::QueryUnknownEndpoint, side->loc,
                   "no existing pod matches '" + side->text + "'; who/what questions list existing endpoints",
                   "to ask about pods that do not exist yet, use 'can ... reach ...'");
      print_query_diagnostics(diags, qsm, o.in);
      return kInputError;
    }
    ir::PolicyTables tables = ir::resolve_policies(m);
    verifier::Connectivity conn(m, tables);
    auto kind = who ? verifier::ListingKind::Who : verifier::ListingKind::What;
    auto listing = who ? verifier::who_can_reach(conn, m, *side, proto, port)
                       : verifier::what_can_reach(conn, m, *side, proto, port);
    if (o.format == "json")
      std::cout << verifier::render_listing_json(m, kind, *side, proto, port, listing).dump(2) << "\n";
    else
      std::cout << verifier::render_listing_text(m, kind, *side, proto, port, listing);
    return kOk;
  }
  auto rq = verifier::resolve_reach(m, *q, diags);
  if (!rq) {
    print_query_diagnostics(diags, qsm, o.in);
    return kInputError;
  }
  verifier::ReachOptions ro;
  ro.debug_smt = o.debug_smt;
  ro.unsat_core = o.format == "json" || o.debug_smt;
  auto ans = verifier::check_reach(m, *rq, ro);
  if (!ans) {
    diags.report(ir::DiagId::SolverError, ir::SourceLoc{file, 1, 1}, ans.error().message);
    print_query_diagnostics(diags, qsm, o.in);
    return kInputError;
  }
  if (o.debug_smt) std::cerr << "; SMT-LIB of: " << text << "\n" << ans->smt2 << "\n";
  if (o.format == "json")
    std::cout << verifier::render_reach_json(m, *rq, *ans).dump(2) << "\n";
  else
    std::cout << verifier::render_reach_text(m, *rq, *ans);
  return kOk;
}

/// The part of a batch line before a comment (`#` at the start or after a blank).
std::string strip_comment(const std::string& line) {
  for (size_t i = 0; i < line.size(); ++i)
    if (line[i] == '#' && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) return line.substr(0, i);
  return line;
}

/// A batch line may end in its expected verdict (` allow` or ` deny`, the output format), so a
/// file of expectations is checked as is. Strips the verdict from \p probe.
std::optional<bool> expected_verdict(std::string& probe) {
  for (auto [word, allowed] : {std::pair<const char*, bool>{" allow", true}, {" deny", false}}) {
    std::string w = word;
    if (probe.size() > w.size() && probe.compare(probe.size() - w.size(), w.size(), w) == 0) {
      probe.erase(probe.size() - w.size());
      while (!probe.empty() && (probe.back() == ' ' || probe.back() == '\t')) probe.pop_back();
      return allowed;
    }
  }
  return std::nullopt;
}

int answer_batch(const ir::Model& m, const QueryOpts& o) {
  std::string text;
  if (o.batch == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  } else {
    std::ifstream f(o.batch, std::ios::binary);
    if (!f) {
      std::cerr << "polc query: cannot read batch file '" << o.batch << "'\n";
      return kInputError;
    }
    std::ostringstream ss;
    ss << f.rdbuf();
    text = ss.str();
  }
  const std::string batch_name = o.batch == "-" ? "<stdin>" : o.batch;
  ir::SourceManager qsm;
  uint32_t file = qsm.add(batch_name, text);
  ir::DiagnosticEngine diags;
  struct Line {
    std::string text;
    verifier::ReachQuery q;
    std::optional<bool> expected;  // the line ended in ' allow' or ' deny'
    uint32_t lineno = 0;
  };
  std::vector<Line> lines;
  std::istringstream in(text);
  uint32_t lineno = 0;
  for (std::string raw; std::getline(in, raw);) {
    ++lineno;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    std::string body = strip_comment(raw);
    size_t b = body.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    size_t e = body.find_last_not_of(" \t");
    std::string probe = body.substr(b, e - b + 1);
    std::optional<bool> expected = expected_verdict(probe);
    auto q = frontend::parse_query(probe, frontend::QueryMode::Probe,
                                   ir::SourceLoc{file, lineno, static_cast<uint32_t>(b + 1)}, diags);
    if (!q) continue;
    auto rq = verifier::resolve_reach(m, *q, diags);
    if (!rq) continue;
    lines.push_back(Line{probe, std::move(*rq), expected, lineno});
  }
  if (diags.has_errors()) {
    diags.sort();
    print_query_diagnostics(diags, qsm, o.in);
    return kInputError;
  }
  verifier::ReachOptions ro;
  ro.explain = o.format == "json";
  ro.unsat_core = o.format == "json";
  ro.counterexample = false;
  nlohmann::json out = nlohmann::json::array();
  size_t checked = 0, failed = 0;
  for (const auto& l : lines) {
    auto ans = verifier::check_reach(m, l.q, ro);
    if (!ans) {
      std::cerr << "polc query: " << l.text << ": " << ans.error().message << " [solver-error]\n";
      return kInputError;
    }
    bool mismatch = l.expected && *l.expected != ans->allowed;
    if (l.expected) ++checked;
    if (mismatch) ++failed;
    if (o.format == "json") {
      nlohmann::json j = verifier::render_reach_json(m, l.q, *ans);
      j["line"] = l.text;
      if (l.expected) j["expected"] = *l.expected ? "allow" : "deny";
      out.push_back(j);
    } else {
      std::cout << l.text << (ans->allowed ? " allow" : " deny") << "\n";
    }
    if (mismatch)
      std::cerr << batch_name << ":" << l.lineno << ": expected " << (*l.expected ? "allow" : "deny") << ", got "
                << (ans->allowed ? "allow" : "deny") << ": " << l.text << "\n";
  }
  if (o.format == "json") std::cout << out.dump(2) << "\n";
  if (checked > 0) {
    if (failed > 0) {
      std::cerr << "polc query: " << failed << " of " << checked << " expected verdicts do not hold\n";
      return kFindings;
    }
    std::cerr << "polc query: all " << checked << " expected verdicts hold\n";
  }
  return kOk;
}

}  // namespace

void register_query(CLI::App& app, int* exit_code) {
  auto opts = std::make_shared<QueryOpts>();
  auto* cmd = app.add_subcommand(
      "query",
      "Ask a reachability question, e.g. \"can frontend reach database:5432?\"\n"
      "  can SRC reach DST[:port][/proto] [METHOD /path]   is some packet allowed? (witness + rules)\n"
      "  who can reach DST[:port][/proto]                  sources, grouped by workload, with ports\n"
      "  what can SRC reach                                destinations, grouped by workload, with ports\n"
      "Endpoints: frontend, frontend-0, prod/frontend, {app=web, tier in (a,b), !debug, env!=prod},\n"
      "prod/{app=web} or {team=a}/{app=web} (any pod with these labels, existing or not),\n"
      "svc:backend, svc:prod/backend, node:node-1, 10.0.0.1, 10.0.0.0/8, world, any.\n"
      "The question is the last argument after the input paths (see docs/query.md).");
  add_input_options(cmd, opts->in);
  cmd->add_option("--format", opts->format, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_option("--batch", opts->batch,
                  "answer one probe per line of FILE ('-' = stdin): 'ns/pod -> ns/pod:port/proto [METHOD /path]'; "
                  "prints each line followed by ' allow' or ' deny'. A line may already end in its expected "
                  "verdict (a file of expectations, e.g. samples/demo/expect.txt): mismatches go to stderr and "
                  "the exit code is 1");
  cmd->add_flag("--debug-smt", opts->debug_smt, "print the SMT-LIB of the question to stderr");
  cmd->callback([opts, exit_code] {
    QueryOpts o = *opts;
    std::string question;
    if (o.batch.empty()) {
      if (o.in.paths.size() < 2) {
        std::cerr << "polc query: expected input paths and a question, e.g.\n"
                     "  polc query samples/demo \"can frontend reach database:5432?\"\n";
        *exit_code = kInputError;
        return;
      }
      question = o.in.paths.back();
      o.in.paths.pop_back();
    }
    ir::DiagnosticEngine diags(o.in.max_errors);
    auto res = load_or_report(o.in, diags);
    if (!res) {
      *exit_code = kInputError;
      return;
    }
    *exit_code = o.batch.empty() ? answer_question(res->model, question, o) : answer_batch(res->model, o);
  });
}

}  // namespace polc::cli
