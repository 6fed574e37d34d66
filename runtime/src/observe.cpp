#include "polc/runtime/observe.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "polc/backend_bpf/abi.h"
#include "polc/runtime/datapath.h"

namespace polc::runtime {

using nlohmann::json;

namespace {

std::string proto_str(uint8_t p) {
  switch (p) {
    case 6: return "TCP";
    case 17: return "UDP";
    case 132: return "SCTP";
    case 1: return "ICMP";
    default: return "proto " + std::to_string(p);
  }
}

std::vector<std::string> tcp_flag_names(uint8_t f) {
  static const std::pair<uint8_t, const char*> kNames[] = {{0x02, "SYN"}, {0x10, "ACK"}, {0x01, "FIN"},
                                                           {0x04, "RST"}, {0x08, "PSH"}, {0x20, "URG"}};
  std::vector<std::string> out;
  for (auto [bit, name] : kNames)
    if (f & bit) out.push_back(name);
  return out;
}

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

/// Monotonic (bpf_ktime_get_ns) to wall clock.
uint64_t to_wall_ns(uint64_t mono) {
  timespec rt{}, mt{};
  clock_gettime(CLOCK_REALTIME, &rt);
  clock_gettime(CLOCK_MONOTONIC, &mt);
  uint64_t now_rt = uint64_t(rt.tv_sec) * 1000000000ull + uint64_t(rt.tv_nsec);
  uint64_t now_mt = uint64_t(mt.tv_sec) * 1000000000ull + uint64_t(mt.tv_nsec);
  return now_rt - (now_mt > mono ? now_mt - mono : 0);
}

std::string iso_time(uint64_t wall_ns) {
  time_t secs = static_cast<time_t>(wall_ns / 1000000000ull);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[64];
  std::snprintf(out, sizeof out, "%s.%06lluZ", buf, static_cast<unsigned long long>((wall_ns % 1000000000ull) / 1000));
  return out;
}

struct Names {
  std::map<Ipv4Addr, std::pair<std::string, std::string>> pods;  // ip -> (ns/pod, ns)
  std::map<Ipv4Addr, std::string> nodes;
  std::pair<std::string, std::string> name(Ipv4Addr ip) const {
    if (auto it = pods.find(ip); it != pods.end()) return it->second;
    if (auto it = nodes.find(ip); it != nodes.end()) return {"node:" + it->second, ""};
    return {ipv4_str(ip), ""};
  }
};

}  // namespace

struct FlowReader::Impl {
  struct NodeCtx {
    Impl* impl = nullptr;
    std::string node;
    json layout;  // the active generation's layout (names of rules and policies)
    Fd events;
  };
  Names names;
  std::vector<std::unique_ptr<NodeCtx>> nodes;
  ring_buffer* rb = nullptr;
  std::vector<Flow> pending;

  ~Impl() {
    if (rb) ring_buffer__free(rb);
  }

  static int on_sample(void* ctx, void* data, size_t size) {
    auto* n = static_cast<NodeCtx*>(ctx);
    if (size < sizeof(polc_event)) return 0;
    polc_event e;
    std::memcpy(&e, data, sizeof e);
    n->impl->pending.push_back(n->impl->decode(*n, e));
    return 0;
  }

  Flow decode(const NodeCtx& n, const polc_event& e) const {
    Flow f;
    f.time_ns = to_wall_ns(e.timestamp_ns);
    f.time = iso_time(f.time_ns);
    f.node = n.node;
    f.saddr = ntohl(e.saddr);
    f.daddr = ntohl(e.daddr);
    f.sport = e.sport;
    f.dport = e.dport;
    f.proto = e.proto;
    f.tcp_flags = e.tcp_flags;
    std::tie(f.source, f.source_ns) = names.name(f.saddr);
    std::tie(f.destination, f.destination_ns) = names.name(f.daddr);
    f.direction = e.dir == POLC_DIR_EGRESS ? "egress" : "ingress";
    f.type = e.outcome == POLC_OUTCOME_ALLOW_L7 ? "L7" : "L3_L4";
    f.dropped = e.verdict == POLC_DROPPED;
    f.reason = reason_name(e.reason);
    f.rule = e.rule;
    std::string path;
    try {
      const json& tables = n.layout.at("tables");
      if (e.rule != POLC_NONE && e.rule < tables.at("rules").size()) {
        const json& r = tables.at("rules").at(e.rule);
        f.policy = r.value("policy", "");
        path = r.value("path", "");
      } else if (e.context != POLC_NONE && e.context < tables.at("contexts").size()) {
        std::vector<std::string> ps;
        for (const auto& p : tables.at("contexts").at(e.context).at("policies")) ps.push_back(p.get<std::string>());
        f.policy = join(ps, ", ");
      }
    } catch (const std::exception&) {
      // names are best effort; the flow itself is what matters
    }
    std::string s = proto_str(e.proto);
    if (e.proto == 6) {
      auto flags = tcp_flag_names(e.tcp_flags);
      if (!flags.empty()) s += " Flags: " + join(flags, ", ");
    }
    s += "; " + f.direction + " " + f.reason;
    if (!f.policy.empty()) {
      bool default_verdict =
          e.reason == POLC_REASON_POLICY_DEFAULT_DENY || e.reason == POLC_REASON_POLICY_DEFAULT_ALLOW;
      s += default_verdict ? " (selected by " + f.policy + ")" : " by " + f.policy + (path.empty() ? "" : " " + path);
    }
    f.summary = s;
    return f;
  }
};

FlowReader::FlowReader() = default;
FlowReader::~FlowReader() = default;
FlowReader::FlowReader(FlowReader&&) noexcept = default;
FlowReader& FlowReader::operator=(FlowReader&&) noexcept = default;

Result<FlowReader> FlowReader::open(const LabState& lab) {
  auto dp = load_datapath_state(lab.name());
  if (!dp) return dp.error();
  auto impl = std::make_unique<Impl>();
  for (const auto& p : lab.pods)
    if (!p.pod.host_network) impl->names.pods[p.pod.ip] = {p.pod.full_name(), p.pod.ns};
  for (const auto& n : lab.nodes) impl->names.nodes[n.node.ip] = n.node.name;
  for (const auto& n : dp->nodes) {
    auto ctx = std::make_unique<Impl::NodeCtx>();
    ctx->impl = impl.get();
    ctx->node = n.node;
    std::ifstream in(n.layout);
    std::stringstream ss;
    ss << in.rdbuf();
    try {
      ctx->layout = json::parse(ss.str());
    } catch (const std::exception& e) {
      return Error{n.layout + ": " + e.what()};
    }
    std::string path = datapath_pin_dir(lab.name()) + "/" + n.node + "/polc_events";
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) return sys_error("opening " + path, -fd);
    ctx->events.reset(fd);
    if (!impl->rb) {
      impl->rb = ring_buffer__new(fd, &Impl::on_sample, ctx.get(), nullptr);
      if (!impl->rb) return sys_error("reading the flow ring buffer of node " + n.node, errno);
    } else if (int err = ring_buffer__add(impl->rb, fd, &Impl::on_sample, ctx.get()); err) {
      return sys_error("reading the flow ring buffer of node " + n.node, -err);
    }
    impl->nodes.push_back(std::move(ctx));
  }
  if (!impl->rb) return Error{"lab '" + lab.name() + "' has no node with an applied policy"};
  FlowReader r;
  r.impl_ = std::move(impl);
  return r;
}

Result<int> FlowReader::poll(int timeout_ms, const std::function<void(const Flow&)>& on_flow) {
  int n = ring_buffer__poll(impl_->rb, timeout_ms);
  if (n < 0 && n != -EINTR) return sys_error("polling flow events", -n);
  std::vector<Flow> flows = std::move(impl_->pending);
  impl_->pending.clear();
  for (const auto& f : flows) on_flow(f);
  return static_cast<int>(flows.size());
}

bool FlowFilter::matches(const Flow& f) const {
  if (dropped && *dropped != f.dropped) return false;
  auto name_matches = [](const std::string& want, const std::string& full) {
    if (want == full) return true;
    size_t slash = full.find('/');
    return slash != std::string::npos && want.find('/') == std::string::npos && full.substr(slash + 1) == want;
  };
  if (!pods.empty()) {
    bool any = false;
    for (const auto& p : pods) any |= name_matches(p, f.source) || name_matches(p, f.destination);
    if (!any) return false;
  }
  if (!namespaces.empty()) {
    bool any = false;
    for (const auto& ns : namespaces) any |= ns == f.source_ns || ns == f.destination_ns;
    if (!any) return false;
  }
  return true;
}

std::string flow_header() {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-27s  %-32s  %-32s  %-5s  %-9s  %s", "TIMESTAMP", "SOURCE", "DESTINATION", "TYPE",
                "VERDICT", "SUMMARY");
  return buf;
}

std::string flow_text(const Flow& f) {
  auto ep = [](const std::string& name, uint16_t port, uint8_t proto) {
    bool ports = proto == 6 || proto == 17 || proto == 132;
    return ports ? name + ":" + std::to_string(port) : name;
  };
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-27s  %-32s  %-32s  %-5s  %-9s  ", f.time.c_str(),
                ep(f.source, f.sport, f.proto).c_str(), ep(f.destination, f.dport, f.proto).c_str(), f.type.c_str(),
                f.dropped ? "DROPPED" : "FORWARDED");
  return buf + f.summary;
}

std::string flow_json(const Flow& f) {
  json j;
  j["time"] = f.time;
  j["node"] = f.node;
  j["source"] = {{"name", f.source}, {"namespace", f.source_ns}, {"ip", ipv4_str(f.saddr)}, {"port", f.sport}};
  j["destination"] = {
      {"name", f.destination}, {"namespace", f.destination_ns}, {"ip", ipv4_str(f.daddr)}, {"port", f.dport}};
  j["protocol"] = proto_str(f.proto);
  if (f.proto == 6) j["tcp_flags"] = tcp_flag_names(f.tcp_flags);
  j["direction"] = f.direction;
  j["type"] = f.type;
  j["verdict"] = f.dropped ? "DROPPED" : "FORWARDED";
  j["reason"] = f.reason;
  if (f.rule != POLC_NONE) j["rule"] = f.rule;
  j["policy"] = f.policy;
  j["summary"] = f.summary;
  return j.dump();
}

}  // namespace polc::runtime
