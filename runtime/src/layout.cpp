#include "layout.h"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "polc/backend_bpf/abi.h"

namespace polc::runtime {

using nlohmann::json;

namespace {

Result<json> read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error{"cannot read " + path};
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const std::exception& e) {
    return Error{path + ": not valid JSON (" + e.what() + ")"};
  }
}

bool exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string dirname_of(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

}  // namespace

const LayoutMap* Layout::find_map(const std::string& name) const {
  for (const auto& m : maps)
    if (m.name == name) return &m;
  return nullptr;
}

Result<Layout> load_layout(const std::string& path, bool check_object) {
  auto doc = read_json(path);
  if (!doc) return doc.error();
  Layout l;
  l.dir = dirname_of(path);
  l.doc = std::move(*doc);
  try {
    const json& d = l.doc;
    if (d.value("format", "") != "polc-layout/1")
      return Error{path + ": format '" + d.value("format", "?") + "' is not polc-layout/1"};
    l.abi_version = d.at("abi_version").get<uint32_t>();
    if (l.abi_version != POLC_ABI_VERSION)
      return Error{path + ": ABI version " + std::to_string(l.abi_version) + ", this polnode knows " +
                   std::to_string(POLC_ABI_VERSION) + " (rebuild polnode and polc from one source tree)"};
    l.epoch = d.at("epoch").get<uint32_t>();
    l.object_path = l.dir + "/" + d.at("object").get<std::string>();
    if (check_object && !exists(l.object_path)) return Error{path + ": object " + l.object_path + " is missing"};
    l.node = d.at("node").at("name").get<std::string>();
    auto ip = parse_ipv4(d.at("node").at("ip").get<std::string>());
    if (!ip) return Error{path + ": bad node IP"};
    l.node_ip = *ip;
    for (const auto& m : d.at("maps")) {
      LayoutMap lm;
      lm.name = m.at("name").get<std::string>();
      lm.type = m.at("type").get<std::string>();
      lm.fill = m.at("fill").get<std::string>();
      lm.max_entries = m.at("max_entries").get<uint32_t>();
      lm.key = m.at("key");
      lm.value = m.at("value");
      if (lm.fill == "entries") lm.entries = &m.at("entries");
      if (lm.fill == "ranges") lm.ranges = &m.at("ranges");
      if (lm.fill != "entries" && lm.fill != "ranges" && lm.fill != "runtime")
        return Error{path + ": map " + lm.name + " has unknown fill '" + lm.fill + "'"};
      l.maps.push_back(std::move(lm));
    }
    for (const auto& p : d.at("programs")) {
      LayoutProgram lp;
      lp.name = p.at("name").get<std::string>();
      lp.hook_direction = p.at("attach").at("direction").get<std::string>();
      lp.target = p.at("attach").value("target", std::string("pod"));
      if (p.at("attach").at("hook").get<std::string>() != "tc" ||
          (lp.hook_direction != "ingress" && lp.hook_direction != "egress"))
        return Error{path + ": program " + lp.name + " has an attach point polnode does not know"};
      l.programs.push_back(std::move(lp));
    }
    for (const auto& e : d.at("tables").at("endpoints")) {
      LayoutEndpoint le;
      le.name = e.at("name").get<std::string>();
      auto eip = parse_ipv4(e.at("ip").get<std::string>());
      if (!eip) return Error{path + ": bad IP for endpoint " + le.name};
      le.ip = *eip;
      le.node = e.at("node").get<std::string>();
      le.host_network = e.value("host_network", false);
      l.endpoints.push_back(std::move(le));
    }
  } catch (const std::exception& e) {
    return Error{path + ": malformed layout (" + e.what() + ")"};
  }
  return l;
}

Result<std::vector<Layout>> load_compiled_output(const std::string& out_dir) {
  std::vector<Layout> out;
  std::string index = out_dir + "/index.json";
  if (exists(index)) {
    auto doc = read_json(index);
    if (!doc) return doc.error();
    try {
      for (const auto& n : doc->at("nodes")) {
        auto l = load_layout(out_dir + "/" + n.at("dir").get<std::string>() + "/layout.json");
        if (!l) return l.error();
        out.push_back(std::move(*l));
      }
    } catch (const std::exception& e) {
      return Error{index + ": malformed (" + e.what() + ")"};
    }
    return out;
  }
  if (exists(out_dir + "/layout.json")) {
    auto l = load_layout(out_dir + "/layout.json");
    if (!l) return l.error();
    out.push_back(std::move(*l));
    return out;
  }
  return Error{out_dir + " holds no polc compile output (no index.json or layout.json)"};
}

}  // namespace polc::runtime
