#include "fuzz_entries.h"

#include <algorithm>
#include <sstream>
#include <string_view>
#include <vector>

#include "polc/frontend/loader.h"
#include "polc/frontend/regex_parser.h"
#include "polc/ir/dump.h"
#include "polc/ir/evaluator.h"

namespace polc::fuzz {

namespace {

std::string check_verdict(const ir::Model& m, const ir::Probe& p, const ir::Verdict& v) {
  if (v.allowed != (v.egress.allowed && v.ingress.allowed)) return "verdict is not egress AND ingress";
  for (const auto* d : {&v.egress, &v.ingress}) {
    for (auto r : d->rules)
      if (r.v >= m.rules.size()) return "verdict names an unknown rule";
    bool denied_reason = d->reason == ir::Reason::DeniedByRule || d->reason == ir::Reason::NoRuleMatched ||
                         d->reason == ir::Reason::L7Denied || d->reason == ir::Reason::OrderedDeny;
    if (denied_reason == d->allowed)
      return std::string("reason ") + ir::reason_name(d->reason) + " contradicts the verdict";
    if (d->l7_restricted && p.http) return "an HTTP probe cannot be l7-restricted";
  }
  return "";
}

}  // namespace

std::string yaml_to_ir(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  ir::DiagnosticEngine diags;
  auto res = frontend::load_text("fuzz.yaml", text, diags);
  const ir::Model& m = res.model;
  for (const auto& d : diags.diagnostics()) {
    if (d.message.empty()) return "a diagnostic without a message";
    (void)ir::render_text(d, m.sources);
  }
  (void)ir::dump_text(m);
  // `polc dump --format json` prints models that loaded without errors: that must never throw
  // (invalid UTF-8 reaching a string, say).
  if (!diags.has_errors()) {
    try {
      (void)ir::dump_json(m).dump();
    } catch (const std::exception& e) {
      return std::string("dump_json: ") + e.what();
    }
  } else {
    (void)ir::dump_json(m).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }

  // Probes between a bounded set of addresses: some pods, a node, an outside address.
  std::vector<ir::Address> addrs;
  for (size_t i = 0; i < m.endpoints.size() && i < 6; ++i) addrs.push_back(ir::Address::pod(m.endpoints[i].id));
  if (!m.nodes.empty()) addrs.push_back(ir::Address::ip(m.nodes.front().ip));
  addrs.push_back(ir::Address::ip(ir::Ipv4{(203u << 24) | (113u << 8) | 10u}));
  ir::HttpRequest get{"GET", "/", "example.com", {{"X-Token", "secret"}}};
  for (const auto& src : addrs)
    for (const auto& dst : addrs) {
      std::vector<std::pair<uint8_t, uint16_t>> targets{{6, 80}, {17, 53}, {132, 9}, {1, 8}};
      if (const auto* ep = std::get_if<ir::EndpointId>(&dst.v))
        for (const auto& cp : m.endpoint(*ep).ports) targets.emplace_back(cp.proto, cp.port);
      for (const auto& [proto, port] : targets)
        for (bool http : {false, true}) {
          if (http && proto != 6) continue;
          ir::Probe p{src, dst, proto, port};
          if (http) p.http = get;
          auto why = check_verdict(m, p, ir::evaluate(m, p));
          if (!why.empty()) return why;
        }
    }
  return "";
}

std::string regex(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  auto nl = all.find('\n');
  std::string_view pattern = all.substr(0, nl);
  std::vector<std::string> subjects{"", "a", "GET", "/api/v1/users", "aaaa", "/"};
  if (nl != std::string_view::npos) {
    std::string rest(all.substr(nl + 1));
    std::istringstream in(rest);
    for (std::string line; std::getline(in, line) && subjects.size() < 32;) subjects.push_back(line);
  }
  frontend::RegexError err;
  auto re = frontend::parse_regex(pattern, &err);
  if (!re) {
    if (err.message.empty()) return "a failed parse without a message";
    if (err.column > pattern.size()) return "error column past the end of the pattern";
    return "";
  }
  if (!re->root) return "a successful parse without an AST";
  // Also the pattern itself, so that literal patterns are checked on a matching subject.
  subjects.emplace_back(pattern);
  ir::Dfa dfa = ir::build_dfa(*re->root, 256);  // minimization is quadratic: keep it small
  for (const auto& s : subjects) {
    bool nfa = re->full_match(s);
    if (dfa.size() > 0 && dfa.accepts(s) != nfa)
      return "NFA and DFA disagree on '" + s + "' for /" + std::string(pattern) + "/";
  }
  if (dfa.size() > 0 && dfa.empty() &&
      std::any_of(subjects.begin(), subjects.end(), [&](const std::string& s) { return re->full_match(s); }))
    return "the DFA claims an empty language but a subject matches";
  return "";
}

}  // namespace polc::fuzz
