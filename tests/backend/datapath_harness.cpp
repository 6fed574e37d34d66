#include "datapath_harness.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "polc/backend_bpf/layout_codec.h"

namespace polc::backend_bpf::testing {

namespace {

void put16(std::vector<uint8_t>& b, size_t off, uint16_t v) {
  b[off] = static_cast<uint8_t>(v >> 8);
  b[off + 1] = static_cast<uint8_t>(v);
}
void put32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  put16(b, off, static_cast<uint16_t>(v >> 16));
  put16(b, off + 2, static_cast<uint16_t>(v));
}

std::vector<uint8_t> ip_and_l4(const Packet& p) {
  size_t ihl = p.ihl * 4u;
  std::vector<uint8_t> l4;
  switch (p.proto) {
    case 6:
      l4.assign(20, 0);
      put16(l4, 0, p.sport);
      put16(l4, 2, p.dport);
      put32(l4, 4, p.seq);
      put32(l4, 8, p.ack);
      l4[12] = 5 << 4;
      l4[13] = p.tcp_flags;
      put16(l4, 14, 65535);
      l4.insert(l4.end(), p.payload.begin(), p.payload.end());
      break;
    case 17:
      l4.assign(8, 0);
      put16(l4, 0, p.sport);
      put16(l4, 2, p.dport);
      put16(l4, 4, 8);
      break;
    case 132:
      l4.assign(12, 0);
      put16(l4, 0, p.sport);
      put16(l4, 2, p.dport);
      break;
    case 1:
      l4.assign(8, 0);
      l4[0] = p.icmp_type;
      l4[1] = p.icmp_code;
      put16(l4, 4, p.icmp_id);
      put16(l4, 6, 1);
      l4.insert(l4.end(), p.icmp_payload.begin(), p.icmp_payload.end());
      break;
    default: l4.assign(8, 0xab); break;
  }
  if (p.truncate_l4) l4.clear();
  std::vector<uint8_t> ip(ihl, 0);
  ip[0] = static_cast<uint8_t>(0x40 | p.ihl);
  put16(ip, 2, static_cast<uint16_t>(ihl + l4.size()));
  put16(ip, 4, p.ip_id);
  put16(ip, 6, p.frag);
  ip[8] = 64;
  ip[9] = p.proto;
  put32(ip, 12, p.saddr);
  put32(ip, 16, p.daddr);
  for (size_t i = 20; i < ihl; ++i) ip[i] = 1;  // NOP options
  uint32_t sum = 0;
  for (size_t i = 0; i < ihl; i += 2) sum += (uint32_t(ip[i]) << 8) | ip[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  put16(ip, 10, static_cast<uint16_t>(~sum));
  if ((p.frag & 0x1fff) == 0) ip.insert(ip.end(), l4.begin(), l4.end());
  return ip;
}

}  // namespace

std::vector<uint8_t> build_packet(const Packet& p) {
  std::vector<uint8_t> body;
  if (p.ethertype == 0x0800) body = ip_and_l4(p);
  std::vector<uint8_t> f(std::max<size_t>(60, 14 + body.size()), 0);  // Ethernet minimum frame
  for (int i = 0; i < 6; ++i) {
    f[i] = static_cast<uint8_t>(0x02 + i);
    f[6 + i] = static_cast<uint8_t>(0x12 + i);
  }
  put16(f, 12, p.ethertype);
  std::copy(body.begin(), body.end(), f.begin() + 14);
  return f;
}

std::vector<uint8_t> embedded_header(const Packet& p) {
  auto body = ip_and_l4(p);
  body.resize(std::min(body.size(), size_t(p.ihl) * 4 + 8));
  return body;
}

std::unique_ptr<Datapath> Datapath::load(const std::string& object, std::string* err,
                                         const std::map<std::string, uint32_t>& max_entries) {
  std::unique_ptr<Datapath> dp(new Datapath());
  static thread_local std::string log;
  log.assign(1 << 22, '\0');
  LIBBPF_OPTS(bpf_object_open_opts, opts, .object_name = "polc", .kernel_log_buf = log.data(),
              .kernel_log_size = log.size(), .kernel_log_level = 0);
  dp->obj_ = bpf_object__open_mem(object.data(), object.size(), &opts);
  if (!dp->obj_) {
    *err = "bpf_object__open_mem failed";
    return nullptr;
  }
  for (const auto& [name, n] : max_entries) {
    bpf_map* map = bpf_object__find_map_by_name(dp->obj_, name.c_str());
    if (!map || bpf_map__set_max_entries(map, n) != 0) {
      *err = "cannot resize " + name;
      return nullptr;
    }
  }
  if (int rc = bpf_object__load(dp->obj_); rc != 0) {
    *err = "bpf_object__load failed (" + std::to_string(rc) + "): " + std::string(log.c_str());
    return nullptr;
  }
  return dp;
}

Datapath::~Datapath() {
  if (obj_) bpf_object__close(obj_);
}

int Datapath::map_fd(const std::string& name) const {
  int fd = bpf_object__find_map_fd_by_name(obj_, name.c_str());
  if (fd < 0) throw std::runtime_error("no map " + name);
  return fd;
}

uint32_t Datapath::max_entries(const std::string& name) const {
  return bpf_map__max_entries(bpf_object__find_map_by_name(obj_, name.c_str()));
}

void Datapath::fill(const nlohmann::json& layout) {
  for (const auto& m : layout.at("maps")) {
    const std::string fill = m.at("fill");
    if (fill == "runtime") continue;
    const std::string name = m.at("name");
    int fd = map_fd(name);
    if (fill == "entries") {
      for (const auto& e : m.at("entries")) {
        auto k = layout::encode(m.at("key"), e.at("key"));
        auto v = layout::encode(m.at("value"), e.at("value"));
        if (bpf_map_update_elem(fd, k.data(), v.data(), BPF_ANY) != 0)
          throw std::runtime_error("update of " + name + " failed: " + std::strerror(errno));
      }
    } else if (fill == "ranges") {
      std::vector<uint32_t> keys;
      std::vector<uint8_t> values;
      for (const auto& r : m.at("ranges")) {
        auto v = layout::encode(m.at("value"), r.at("value"));
        for (uint32_t i = r.at("first").get<uint32_t>(); i <= r.at("last").get<uint32_t>(); ++i) {
          keys.push_back(i);
          values.insert(values.end(), v.begin(), v.end());
        }
      }
      uint32_t count = static_cast<uint32_t>(keys.size());
      if (count && bpf_map_update_batch(fd, keys.data(), values.data(), &count, nullptr) != 0)
        throw std::runtime_error("batch update of " + name + " failed: " + std::strerror(errno));
    } else {
      throw std::runtime_error("unknown fill " + fill);
    }
  }
}

void Datapath::clear() {
  bpf_map* map;
  bpf_object__for_each_map(map, obj_) {
    auto type = bpf_map__type(map);
    if (type != BPF_MAP_TYPE_HASH && type != BPF_MAP_TYPE_LRU_HASH && type != BPF_MAP_TYPE_LPM_TRIE) continue;
    int fd = bpf_map__fd(map);
    std::vector<uint8_t> key(bpf_map__key_size(map)), next(key.size());
    std::vector<std::vector<uint8_t>> keys;
    void* prev = nullptr;
    while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
      keys.push_back(next);
      key = next;
      prev = key.data();
    }
    for (auto& k : keys) bpf_map_delete_elem(fd, k.data());
  }
}

size_t Datapath::count(const std::string& name) const {
  bpf_map* map = bpf_object__find_map_by_name(obj_, name.c_str());
  int fd = bpf_map__fd(map);
  std::vector<uint8_t> key(bpf_map__key_size(map)), next(key.size());
  size_t n = 0;
  void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    ++n;
    key = next;
    prev = key.data();
  }
  return n;
}

int Datapath::run(const std::string& program, const std::vector<uint8_t>& frame, uint32_t repeat, uint32_t* duration_ns,
                  std::vector<uint8_t>* frame_out) {
  bpf_program* prog = bpf_object__find_program_by_name(obj_, program.c_str());
  if (!prog) throw std::runtime_error("no program " + program);
  std::vector<uint8_t> out(frame.size() + 256);
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(), .data_out = out.data(),
              .data_size_in = static_cast<uint32_t>(frame.size()), .data_size_out = static_cast<uint32_t>(out.size()),
              .repeat = static_cast<int>(repeat));
  if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts) != 0)
    throw std::runtime_error("BPF_PROG_TEST_RUN failed: " + std::string(std::strerror(errno)));
  if (duration_ns) *duration_ns = opts.duration;
  if (frame_out) {
    out.resize(opts.data_size_out);
    *frame_out = std::move(out);
  }
  return static_cast<int>(opts.retval);
}

namespace {
uint64_t percpu_packets(int fd, uint32_t key) {
  int ncpu = libbpf_num_possible_cpus();
  std::vector<polc_counter> values(static_cast<size_t>(ncpu));
  if (bpf_map_lookup_elem(fd, &key, values.data()) != 0) return 0;
  uint64_t sum = 0;
  for (const auto& v : values) sum += v.packets;
  return sum;
}
}  // namespace

uint64_t Datapath::stat(uint32_t reason) {
  return percpu_packets(map_fd("polc_stats"), reason);
}
uint64_t Datapath::rule_counter(uint32_t rule_set) {
  return percpu_packets(map_fd("polc_rule_counters"), rule_set);
}

polc_config Datapath::config() {
  polc_config c{};
  uint32_t zero = 0;
  if (bpf_map_lookup_elem(map_fd("polc_config"), &zero, &c) != 0) throw std::runtime_error("config lookup failed");
  return c;
}

void Datapath::set_config(const polc_config& c) {
  uint32_t zero = 0;
  if (bpf_map_update_elem(map_fd("polc_config"), &zero, &c, BPF_ANY) != 0)
    throw std::runtime_error("config update failed");
}

Packet probe_packet(const ir::Model& m, const ir::Probe& p, uint16_t sport) {
  ir::Resolved s = ir::resolve_address(m, p.src);
  ir::Resolved d = ir::resolve_address(m, p.dst);
  Packet pkt;
  pkt.saddr = s.ip.value;
  pkt.daddr = d.ip.value;
  pkt.proto = p.proto;
  pkt.sport = sport;
  pkt.dport = p.port;
  pkt.icmp_type = static_cast<uint8_t>(p.port);
  pkt.icmp_id = sport;
  return pkt;
}

ir::Probe representable(ir::Probe p) {
  if (p.proto == 1)
    p.port &= 0xff;
  else if (!ir::protocol_has_ports(p.proto))
    p.port = 0;
  p.http.reset();  // the datapath judges connections (L4); HTTP is issue 8
  return p;
}

DatapathVerdict run_probe(const ir::Model& m, std::vector<LoadedNode>& nodes, const Packet& pkt) {
  DatapathVerdict v;
  auto frame = build_packet(pkt);
  auto src = m.endpoint_by_ip(ir::Ipv4{pkt.saddr});
  auto dst = m.endpoint_by_ip(ir::Ipv4{pkt.daddr});
  if (src) {
    v.egress = nodes.at(m.endpoint(*src).node.v).dp->run("polc_from_pod", frame);
    v.allowed = v.allowed && *v.egress == 0;
  }
  if (dst) {
    v.ingress = nodes.at(m.endpoint(*dst).node.v).dp->run("polc_to_pod", frame);
    v.allowed = v.allowed && *v.ingress == 0;
  }
  return v;
}

DatapathVerdict run_http_probe(const ir::Model& m, std::vector<LoadedNode>& nodes, Packet pkt,
                               const std::string& request) {
  pkt.tcp_flags = 0x02;  // SYN
  pkt.seq = 7000;
  pkt.payload.clear();
  DatapathVerdict syn = run_probe(m, nodes, pkt);
  pkt.tcp_flags = 0x18;  // PSH|ACK
  pkt.seq = 7001;
  pkt.ack = 90001;
  pkt.payload.assign(request.begin(), request.end());
  DatapathVerdict data = run_probe(m, nodes, pkt);
  data.allowed = data.allowed && syn.allowed;
  return data;
}

std::vector<LoadedNode> compile_and_load(const ir::Model& m, ir::DiagnosticEngine& diags, const CompileOptions& opt) {
  auto out = compile_policy(m, opt, diags);
  if (!out) throw std::runtime_error("compile failed: " + out.error().message);
  std::vector<LoadedNode> nodes;
  for (auto& a : out->nodes) {
    LoadedNode n;
    n.name = a.node.name;
    n.layout = a.layout;
    std::string err;
    // Small conntrack maps: tests empty them often, and emptying scans every bucket.
    n.dp = Datapath::load(a.object, &err, {{"polc_ct", 4096}, {"polc_frags", 256}});
    if (!n.dp) throw std::runtime_error("node " + a.node.name + ": " + err);
    n.dp->fill(a.layout);
    nodes.push_back(std::move(n));
  }
  return nodes;
}

}  // namespace polc::backend_bpf::testing
