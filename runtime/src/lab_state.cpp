// The lab's persisted state: /run/polnode/<lab>/lab.json (read by status, exec, apply, down).
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "polc/runtime/lab.h"

namespace polc::runtime {

using nlohmann::json;

namespace {

std::string ip_or_empty(std::optional<Ipv4Addr> ip) {
  return ip ? ipv4_str(*ip) : std::string();
}

Ipv4Addr get_ip(const json& j, const char* key) {
  auto ip = parse_ipv4(j.at(key).get<std::string>());
  if (!ip) throw std::runtime_error(std::string("bad IPv4 address in field '") + key + "'");
  return *ip;
}

json ports_json(const std::vector<LabPort>& ports) {
  json a = json::array();
  for (const auto& p : ports) a.push_back({{"name", p.name}, {"port", p.port}, {"proto", p.proto}});
  return a;
}

}  // namespace

std::string lab_state_to_json(const LabState& s) {
  json j;
  j["version"] = s.version;
  j["lab"] = s.spec.name;
  j["source"] = s.spec.source;
  j["underlay"] = {{"netns", s.underlay_netns}, {"bridge", s.underlay_bridge}, {"prefix", s.spec.underlay_prefix}};
  j["nodes"] = json::array();
  for (const auto& n : s.nodes)
    j["nodes"].push_back(
        {{"name", n.node.name}, {"ip", ipv4_str(n.node.ip)}, {"netns", n.netns}, {"underlay_if", n.underlay_if}});
  j["pods"] = json::array();
  for (const auto& p : s.pods) {
    j["pods"].push_back({{"namespace", p.pod.ns},
                         {"name", p.pod.name},
                         {"workload", p.pod.workload},
                         {"replica", p.pod.replica},
                         {"ip", ipv4_str(p.pod.ip)},
                         {"node", p.pod.node},
                         {"host_network", p.pod.host_network},
                         {"ports", ports_json(p.pod.ports)},
                         {"netns", p.netns},
                         {"node_netns", p.node_netns},
                         {"host_if", p.host_if},
                         {"pod_if", p.pod_if},
                         {"pod_mac", p.pod_mac.str()}});
  }
  j["services"] = json::array();
  for (const auto& svc : s.spec.services) {
    json ports = json::array();
    for (const auto& sp : svc.ports) {
      json be = json::array();
      for (const auto& b : sp.backends)
        be.push_back({{"pod", b.pod}, {"ip", ipv4_str(b.ip)}, {"target_port", b.target_port}, {"weight", b.weight}});
      ports.push_back(
          {{"name", sp.name}, {"proto", sp.proto}, {"port", sp.port}, {"node_port", sp.node_port}, {"backends", be}});
    }
    j["services"].push_back({{"namespace", svc.ns},
                             {"name", svc.name},
                             {"type", svc.type},
                             {"cluster_ip", ip_or_empty(svc.cluster_ip)},
                             {"ports", ports}});
  }
  return j.dump(2) + "\n";
}

Result<LabState> lab_state_from_json(const std::string& text) {
  try {
    json j = json::parse(text);
    LabState s;
    s.version = j.at("version").get<int>();
    if (s.version != 1) return Error{"unsupported lab state version " + std::to_string(s.version)};
    s.spec.name = j.at("lab").get<std::string>();
    s.spec.source = j.value("source", "");
    const auto& ul = j.at("underlay");
    s.underlay_netns = ul.at("netns").get<std::string>();
    s.underlay_bridge = ul.at("bridge").get<std::string>();
    s.spec.underlay_prefix = ul.at("prefix").get<uint8_t>();
    for (const auto& n : j.at("nodes")) {
      LabNodeState ns;
      ns.node.name = n.at("name").get<std::string>();
      ns.node.ip = get_ip(n, "ip");
      ns.netns = n.at("netns").get<std::string>();
      ns.underlay_if = n.at("underlay_if").get<std::string>();
      s.spec.nodes.push_back(ns.node);
      s.nodes.push_back(std::move(ns));
    }
    for (const auto& p : j.at("pods")) {
      LabPodState ps;
      ps.pod.ns = p.at("namespace").get<std::string>();
      ps.pod.name = p.at("name").get<std::string>();
      ps.pod.workload = p.at("workload").get<std::string>();
      ps.pod.replica = p.at("replica").get<int>();
      ps.pod.ip = get_ip(p, "ip");
      ps.pod.node = p.at("node").get<std::string>();
      ps.pod.host_network = p.at("host_network").get<bool>();
      for (const auto& port : p.at("ports"))
        ps.pod.ports.push_back(
            {port.at("name").get<std::string>(), port.at("port").get<uint16_t>(), port.at("proto").get<uint8_t>()});
      ps.netns = p.at("netns").get<std::string>();
      ps.node_netns = p.at("node_netns").get<std::string>();
      ps.host_if = p.at("host_if").get<std::string>();
      ps.pod_if = p.at("pod_if").get<std::string>();
      auto mac = Mac::parse(p.at("pod_mac").get<std::string>());
      if (!mac) return Error{"bad MAC address for pod " + ps.pod.full_name()};
      ps.pod_mac = *mac;
      s.spec.pods.push_back(ps.pod);
      s.pods.push_back(std::move(ps));
    }
    for (const auto& v : j.at("services")) {
      LabService svc;
      svc.ns = v.at("namespace").get<std::string>();
      svc.name = v.at("name").get<std::string>();
      svc.type = v.at("type").get<std::string>();
      if (auto ip = v.at("cluster_ip").get<std::string>(); !ip.empty()) svc.cluster_ip = get_ip(v, "cluster_ip");
      for (const auto& sp : v.at("ports")) {
        LabServicePort port;
        port.name = sp.at("name").get<std::string>();
        port.proto = sp.at("proto").get<uint8_t>();
        port.port = sp.at("port").get<uint16_t>();
        port.node_port = sp.at("node_port").get<uint16_t>();
        for (const auto& b : sp.at("backends"))
          port.backends.push_back({b.at("pod").get<std::string>(), get_ip(b, "ip"), b.at("target_port").get<uint16_t>(),
                                   b.at("weight").get<uint32_t>()});
        svc.ports.push_back(std::move(port));
      }
      s.spec.services.push_back(std::move(svc));
    }
    return s;
  } catch (const std::exception& e) {
    return Error{std::string("malformed lab state: ") + e.what()};
  }
}

Result<LabState> load_lab_state(const std::string& lab) {
  if (auto st = validate_lab_name(lab); !st) return st.error();
  std::string path = lab_state_path(lab);
  std::ifstream in(path);
  if (!in) {
    if (!list_netns(lab_prefix(lab)).empty())
      return Error{"lab '" + lab + "' has no state (" + path +
                   ") but leftover namespaces exist; run `polnode lab down --name " + lab + "`"};
    return Error{"no lab named '" + lab + "' (no " + path + ")"};
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = lab_state_from_json(ss.str());
  if (!r) return Error{path + ": " + r.error().message};
  return r;
}

std::vector<std::string> list_labs() {
  std::set<std::string> labs;
  if (DIR* d = ::opendir(kLabStateRoot)) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && validate_lab_name(n).ok()) labs.insert(n);
    }
    ::closedir(d);
  }
  for (const auto& ns : list_netns("pl-")) {
    size_t dash = ns.find('-', 3);
    if (dash != std::string::npos) {
      std::string lab = ns.substr(3, dash - 3);
      if (validate_lab_name(lab).ok()) labs.insert(lab);
    }
  }
  return {labs.begin(), labs.end()};
}

const LabNodeState* LabState::find_node(const std::string& name) const {
  for (const auto& n : nodes)
    if (n.node.name == name) return &n;
  return nullptr;
}

}  // namespace polc::runtime
