// Test harness for the compiled datapath: loads an object with libbpf, fills its maps from
// layout.json (the way the runtime does), runs its programs on crafted packets with
// BPF_PROG_TEST_RUN, and answers a probe the way the two programs of a real node pair would.
#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "polc/backend_bpf/abi.h"
#include "polc/backend_bpf/backend.h"
#include "polc/ir/evaluator.h"

namespace polc::backend_bpf::testing {

/// A crafted frame: Ethernet, IPv4, then the L4 header of `proto` (ports, ICMP type/id).
struct Packet {
  uint32_t saddr = 0;  ///< host byte order
  uint32_t daddr = 0;
  uint8_t proto = 6;
  uint16_t sport = 40000;
  uint16_t dport = 80;
  uint8_t tcp_flags = 0x02;  ///< SYN
  uint8_t icmp_type = 8;
  uint8_t icmp_code = 0;
  uint16_t icmp_id = 1;
  uint16_t ip_id = 1;
  uint16_t frag = 0;  ///< IPv4 flags+offset field (0x2000 = more fragments)
  uint8_t ihl = 5;    ///< with options when > 5
  uint16_t ethertype = 0x0800;
  std::vector<uint8_t> icmp_payload;  ///< bytes after the 8-byte ICMP header (an embedded packet)
  bool truncate_l4 = false;           ///< stop right after the IPv4 header
  uint32_t seq = 1000;                ///< TCP sequence number
  uint32_t ack = 0;                   ///< TCP acknowledgment number
  std::vector<uint8_t> payload;       ///< TCP payload
};
[[nodiscard]] std::vector<uint8_t> build_packet(const Packet& p);
/// The IPv4 header + first 8 L4 bytes of `p`, as an ICMP error embeds them.
[[nodiscard]] std::vector<uint8_t> embedded_header(const Packet& p);

/// A loaded datapath object (both programs, all maps). Non-copyable; closes on destruction.
class Datapath {
 public:
  /// Opens and loads `object` (ELF bytes). `max_entries` overrides map sizes before loading
  /// (a runtime may grow maps the same way). Returns nullptr and sets *err on failure, with
  /// the verifier log.
  static std::unique_ptr<Datapath> load(const std::string& object, std::string* err,
                                        const std::map<std::string, uint32_t>& max_entries = {});
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  /// Fills every "entries"/"ranges" map of layout.json. Throws std::runtime_error on failure.
  void fill(const nlohmann::json& layout);
  /// Deletes every entry of every hash-like map (policy maps, conntrack, fragments), so that
  /// fill() can load another policy into the same programs.
  void clear();
  /// Runs a program (polc_from_pod / polc_to_pod) on a frame; returns the TC action.
  int run(const std::string& program, const std::vector<uint8_t>& frame, uint32_t repeat = 1,
          uint32_t* duration_ns = nullptr, std::vector<uint8_t>* frame_out = nullptr);
  /// polc_stats[reason], summed over CPUs.
  [[nodiscard]] uint64_t stat(uint32_t reason);
  /// polc_rule_counters[rule_set] packets, summed over CPUs.
  [[nodiscard]] uint64_t rule_counter(uint32_t rule_set);
  /// polc_config[0], read / written.
  [[nodiscard]] polc_config config();
  void set_config(const polc_config& c);
  [[nodiscard]] int map_fd(const std::string& name) const;
  [[nodiscard]] uint32_t max_entries(const std::string& name) const;
  /// Number of entries in a hash-like map.
  [[nodiscard]] size_t count(const std::string& name) const;
  [[nodiscard]] bpf_object* object() const { return obj_; }

 private:
  Datapath() = default;
  bpf_object* obj_ = nullptr;
};

/// One node's compiled output, loaded.
struct LoadedNode {
  std::string name;
  nlohmann::json layout;
  std::unique_ptr<Datapath> dp;
};

/// The datapath's answer for a probe: the source pod's node runs polc_from_pod, the destination
/// pod's node polc_to_pod (non-pods have no program), as packets cross a real cluster.
struct DatapathVerdict {
  bool allowed = true;
  std::optional<int> egress;   ///< TC action of polc_from_pod, when the source is a pod
  std::optional<int> ingress;  ///< TC action of polc_to_pod, when the destination is a pod
};

/// A probe as a packet: the probe's addresses, protocol, and port (destination port; ICMP type;
/// nothing for other protocols), with source port `sport` (ICMP: identifier).
[[nodiscard]] Packet probe_packet(const ir::Model& m, const ir::Probe& p, uint16_t sport);

/// Runs a probe's packet through the nodes' programs. `nodes` is indexed by ir::NodeId.
[[nodiscard]] DatapathVerdict run_probe(const ir::Model& m, std::vector<LoadedNode>& nodes, const Packet& pkt);

/// An HTTP request on a new TCP connection: the SYN of `pkt`, then one segment carrying
/// `request` (the bytes of backend_bpf::http_request_bytes), through the nodes' programs. The
/// verdict is the request segment's (a refused SYN refuses the request too).
[[nodiscard]] DatapathVerdict run_http_probe(const ir::Model& m, std::vector<LoadedNode>& nodes, Packet pkt,
                                             const std::string& request);

/// The probe a packet can express: ICMP types are 0-255, other protocols have no port.
[[nodiscard]] ir::Probe representable(ir::Probe p);

/// Compiles `m` for every node and loads each node's object, filled. Throws on failure.
[[nodiscard]] std::vector<LoadedNode> compile_and_load(const ir::Model& m, ir::DiagnosticEngine& diags,
                                                       const CompileOptions& opt = {});

}  // namespace polc::backend_bpf::testing
