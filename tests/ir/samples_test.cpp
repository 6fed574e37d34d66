// Checks every sample under samples/ against the reference evaluator: each samples/<name>/
// directory loads without diagnostics, and every probe in its expect.txt gets the verdict the
// file states. expect.txt is the output format of `polc query DIR --batch FILE`:
//   SRC -> DST:PORT/PROTO [METHOD PATH] allow|deny
// where SRC and DST are `ns/pod`, `world` (an external address) or a dotted IPv4 address.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "polc/frontend/loader.h"
#include "polc/ir/evaluator.h"

namespace polc {
namespace {

namespace fs = std::filesystem;

/// The address that stands for `world` in a probe: TEST-NET-3, outside every cluster range.
constexpr const char* kWorldAddress = "203.0.113.10";

struct ExpectLine {
  int line = 0;
  std::string text;
  std::string src, dst;
  uint16_t port = 0;
  uint8_t proto = 0;
  std::optional<ir::HttpRequest> http;
  bool allow = false;
};

std::vector<std::string> split_ws(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string t; in >> t;) out.push_back(t);
  return out;
}

/// Parses one non-comment line; returns an error message on malformed input.
std::string parse_line(const std::string& text, ExpectLine& out) {
  auto tok = split_ws(text);
  if (tok.size() != 4 && tok.size() != 6) return "expected 'SRC -> DST:PORT/PROTO [METHOD PATH] allow|deny'";
  if (tok[1] != "->") return "expected '->' after the source";
  out.src = tok[0];
  const std::string& target = tok[2];
  auto colon = target.rfind(':');
  auto slash = target.rfind('/');
  if (colon == std::string::npos || slash == std::string::npos || slash < colon)
    return "destination '" + target + "' is not DST:PORT/PROTO";
  out.dst = target.substr(0, colon);
  std::string port = target.substr(colon + 1, slash - colon - 1);
  std::string proto = target.substr(slash + 1);
  if (port.empty() || port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](unsigned char c) { return std::isdigit(c) != 0; }) ||
      std::stoi(port) > 65535)
    return "bad port '" + port + "'";
  out.port = static_cast<uint16_t>(std::stoi(port));
  if (proto == "tcp")
    out.proto = 6;
  else if (proto == "udp")
    out.proto = 17;
  else if (proto == "sctp")
    out.proto = 132;
  else
    return "bad protocol '" + proto + "' (expected tcp, udp or sctp)";
  if (tok.size() == 6) {
    ir::HttpRequest req;
    req.method = tok[3];
    req.path = tok[4];
    out.http = req;
  }
  const std::string& verdict = tok.back();
  if (verdict != "allow" && verdict != "deny") return "verdict must be 'allow' or 'deny', got '" + verdict + "'";
  out.allow = verdict == "allow";
  return "";
}

/// `ns/pod`, `world` or an IPv4 address -> probe address; error message on failure.
std::string resolve(const ir::Model& m, const std::string& s, ir::Address& out) {
  if (s == "world") {
    out = ir::Address::ip(*ir::Ipv4::parse(kWorldAddress));
    return "";
  }
  if (auto ip = ir::Ipv4::parse(s)) {
    out = ir::Address::ip(*ip);
    return "";
  }
  auto slash = s.find('/');
  if (slash == std::string::npos) return "'" + s + "' is not ns/pod, world or an IPv4 address";
  auto ep = m.find_endpoint(s.substr(0, slash), s.substr(slash + 1));
  if (!ep) return "no pod '" + s + "' in the sample (see `polc dump`)";
  out = ir::Address::pod(*ep);
  return "";
}

std::string describe(const ir::Model& m, const ir::DirectionVerdict& v) {
  std::ostringstream os;
  os << "  " << ir::direction_name(v.dir) << ": " << (v.allowed ? "allow" : "deny") << " (" << ir::reason_name(v.reason)
     << (v.l7_restricted ? ", l7-restricted" : "") << ")\n";
  for (auto rid : v.rules) {
    const ir::Rule& r = m.rule(rid);
    os << "    rule " << m.policy(r.policy).display() << " " << r.path << " at " << m.sources.format(r.loc) << "\n";
  }
  for (auto pid : v.isolating)
    os << "    isolated by " << m.policy(pid).display() << " at " << m.sources.format(m.policy(pid).loc) << "\n";
  return os.str();
}

std::vector<std::string> sample_dirs() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fs::path(POLC_SOURCE_DIR) / "samples"))
    if (e.is_directory()) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

class Samples : public ::testing::TestWithParam<std::string> {};

TEST_P(Samples, ExpectationsHold) {
  fs::path dir = fs::path(POLC_SOURCE_DIR) / "samples" / GetParam();
  fs::path expect = dir / "expect.txt";
  ASSERT_TRUE(fs::exists(expect)) << "sample " << GetParam() << " has no expect.txt";

  ir::DiagnosticEngine diags;
  auto res = frontend::load_inputs({dir.string()}, diags);
  for (const auto& d : diags.diagnostics())
    EXPECT_TRUE(d.severity == ir::Severity::Note || d.severity == ir::Severity::Info)
        << "samples must load cleanly:\n"
        << ir::render_text(d, res.model.sources);
  const ir::Model& m = res.model;

  std::ifstream in(expect);
  std::string text;
  int n = 0, probes = 0;
  while (std::getline(in, text)) {
    ++n;
    auto first = text.find_first_not_of(" \t\r");
    if (first == std::string::npos || text[first] == '#') continue;
    std::string where = GetParam() + "/expect.txt:" + std::to_string(n) + ": " + text;
    ExpectLine e;
    if (auto err = parse_line(text, e); !err.empty()) {
      ADD_FAILURE() << where << "\n  " << err;
      continue;
    }
    ir::Probe p;
    std::string err = resolve(m, e.src, p.src);
    if (err.empty()) err = resolve(m, e.dst, p.dst);
    if (!err.empty()) {
      ADD_FAILURE() << where << "\n  " << err;
      continue;
    }
    p.proto = e.proto;
    p.port = e.port;
    p.http = e.http;
    ++probes;
    ir::Verdict v = ir::evaluate(m, p);
    EXPECT_EQ(v.allowed, e.allow) << where << "\n  evaluator says " << (v.allowed ? "allow" : "deny") << "\n"
                                  << describe(m, v.egress) << describe(m, v.ingress);
  }
  EXPECT_GT(probes, 0) << GetParam() << "/expect.txt has no probes";
}

INSTANTIATE_TEST_SUITE_P(All, Samples, ::testing::ValuesIn(sample_dirs()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           std::string s = info.param;
                           std::replace_if(
                               s.begin(), s.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); },
                               '_');
                           return s;
                         });

}  // namespace
}  // namespace polc
