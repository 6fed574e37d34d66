// polc matrix: connectivity between workloads (and nodes, world regions), per port and protocol,
// computed over equivalence classes from the policy tables.
#include <iostream>
#include <set>

#include "common.h"
#include "polc/ir/policy_tables.h"
#include "polc/verifier/connectivity.h"
#include "polc/verifier/explain.h"

namespace polc::cli {

namespace {

/// "80,443/tcp,53/udp,8000-8080,icmp" -> a port set; bare numbers mean TCP.
std::optional<verifier::PortSet> parse_ports(const std::string& text, std::string* err) {
  verifier::PortSet out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    std::string item = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? text.size() + 1 : end + 1;
    if (item.empty()) continue;
    uint8_t proto = 6;
    std::string range = item;
    if (auto slash = item.find('/'); slash != std::string::npos) {
      auto p = ir::parse_protocol(item.substr(slash + 1));
      if (!p) {
        *err = "unknown protocol in '" + item + "'";
        return std::nullopt;
      }
      proto = *p;
      range = item.substr(0, slash);
    } else if (auto p = ir::parse_protocol(item)) {
      proto = *p;
      range = "";
    }
    uint32_t lo = 0, hi = 65535;
    if (!range.empty()) {
      auto dash = range.find('-');
      try {
        size_t used = 0;
        lo = static_cast<uint32_t>(std::stoul(range.substr(0, dash), &used));
        if (used != range.substr(0, dash).size()) throw std::invalid_argument(range);
        hi = lo;
        if (dash != std::string::npos) {
          hi = static_cast<uint32_t>(std::stoul(range.substr(dash + 1), &used));
          if (used != range.substr(dash + 1).size()) throw std::invalid_argument(range);
        }
      } catch (...) {
        *err = "bad port '" + item + "'; expected e.g. 80, 53/udp, 8000-8080/tcp or icmp";
        return std::nullopt;
      }
      if (hi > 65535 || lo > hi) {
        *err = "bad port range '" + item + "'";
        return std::nullopt;
      }
    }
    verifier::PortSet one;
    one.allowed[static_cast<size_t>(ir::proto_bucket(proto))] = {
        {static_cast<uint16_t>(lo), static_cast<uint16_t>(hi)}};
    out.unite(one);
  }
  if (out.empty()) {
    *err = "no ports in '" + text + "'";
    return std::nullopt;
  }
  return out;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string dot_id(const std::string& s) {
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\\\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace

void register_matrix(CLI::App& app, int* exit_code) {
  struct Opts {
    InputOptions in;
    std::string format = "text";
    std::string ports;
    bool no_world = false;
    bool no_nodes = false;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("matrix",
                                 "Print the connectivity matrix between workloads (pods grouped by workload, plus "
                                 "nodes and world regions) with the allowed ports");
  add_input_options(cmd, opts->in);
  add_nodes_option(cmd, opts->in);
  cmd->add_option("--format", opts->format, "text, csv, json or dot")
      ->check(CLI::IsMember({"text", "csv", "json", "dot"}))
      ->capture_default_str();
  cmd->add_option("--ports", opts->ports, "only these ports, e.g. 80,443,53/udp,8000-8080/tcp,icmp (bare = TCP)");
  cmd->add_flag("--no-world", opts->no_world, "leave out addresses outside the cluster");
  cmd->add_flag("--no-nodes", opts->no_nodes, "leave out nodes");
  cmd->callback([opts, exit_code] {
    verifier::MatrixOptions mo;
    mo.include_world = !opts->no_world;
    mo.include_nodes = !opts->no_nodes;
    if (!opts->ports.empty()) {
      std::string err;
      mo.ports = parse_ports(opts->ports, &err);
      if (!mo.ports) {
        std::cerr << "polc matrix: --ports: " << err << "\n";
        *exit_code = kInputError;
        return;
      }
    }
    ir::DiagnosticEngine diags(opts->in.max_errors);
    auto res = load_or_report(opts->in, diags);
    if (!res) {
      *exit_code = kInputError;
      return;
    }
    const ir::Model& m = res->model;
    for (const auto& p : m.policies)
      if (p.tier) {
        std::cerr << "polc matrix: ordered (tiered) policies are not supported yet\n";
        *exit_code = kInputError;
        return;
      }
    ir::PolicyTables tables = ir::resolve_policies(m);
    verifier::Connectivity conn(m, tables);
    std::vector<std::string> names;
    auto cells = verifier::connectivity_matrix(conn, m, mo, &names);
    std::set<std::string> worlds, nodes;
    for (const auto& g : conn.groups()) {
      if (g.kind == verifier::Group::Kind::World) worlds.insert(g.workload);
      if (g.kind == verifier::Group::Kind::Node) nodes.insert(g.workload);
    }
    if (opts->format == "json") {
      nlohmann::json j;
      j["endpoints"] = names;
      j["edges"] = nlohmann::json::array();
      for (const auto& c : cells)
        j["edges"].push_back({{"src", c.src},
                              {"dst", c.dst},
                              {"ports", verifier::port_set_json(c.ports)},
                              {"summary", c.ports.str()},
                              {"uniform", c.uniform}});
      std::cout << j.dump(2) << "\n";
    } else if (opts->format == "csv") {
      std::cout << "source,destination,protocol,port_from,port_to,http_filtered,uniform\n";
      for (const auto& c : cells)
        for (const auto& p : verifier::port_set_json(c.ports))
          std::cout << csv_field(c.src) << "," << csv_field(c.dst) << "," << p["protocol"].get<std::string>() << ","
                    << p["from"].get<int>() << "," << p["to"].get<int>() << ","
                    << (p["http_filtered"].get<bool>() ? "true" : "false") << "," << (c.uniform ? "true" : "false")
                    << "\n";
    } else if (opts->format == "dot") {
      std::cout << "digraph connectivity {\n  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n"
                   "  edge [fontname=\"Helvetica\", fontsize=10];\n";
      for (const auto& n : names)
        std::cout << "  " << dot_id(n)
                  << (worlds.count(n)  ? " [shape=ellipse]"
                      : nodes.count(n) ? " [shape=hexagon]"
                                       : "")
                  << ";\n";
      for (const auto& c : cells)
        std::cout << "  " << dot_id(c.src) << " -> " << dot_id(c.dst) << " [label=" << dot_id(c.ports.str())
                  << (c.uniform ? "" : ", style=dashed") << "];\n";
      std::cout << "}\n";
    } else {
      size_t w = 4;
      for (const auto& c : cells) w = std::max(w, c.src.size());
      size_t w2 = 2;
      for (const auto& c : cells) w2 = std::max(w2, c.dst.size());
      std::cout << "FROM" << std::string(w - 2, ' ') << "TO" << std::string(w2, ' ') << "PORTS\n";
      for (const auto& c : cells)
        std::cout << c.src << std::string(w - c.src.size() + 2, ' ') << c.dst << std::string(w2 - c.dst.size() + 2, ' ')
                  << c.ports.str() << (c.uniform ? "" : "  (not for every pod pair)") << "\n";
      size_t pods = 0;
      for (const auto& n : names) pods += !worlds.count(n) && !nodes.count(n);
      std::cout << cells.size() << " allowed pair(s) among " << pods << " workload(s)";
      if (mo.include_nodes) std::cout << ", " << nodes.size() << " node(s)";
      if (mo.include_world) std::cout << ", " << worlds.size() << " world region(s)";
      std::cout << "; pairs not listed allow nothing\n";
    }
    *exit_code = kOk;
  });
}

}  // namespace polc::cli
