// Flows from the datapath's ring buffers, named with the lab's pods and the applied layout's
// policies, printed like Hubble (`polnode observe`).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "polc/runtime/lab.h"
#include "polc/runtime/result.h"

namespace polc::runtime {

struct Flow {
  std::string time;  ///< UTC wall clock, "2026-11-22T06:31:02.123456Z"
  uint64_t time_ns = 0;
  std::string node;    ///< the node whose datapath judged it
  std::string source;  ///< ns/pod, "node:<name>" or the address
  std::string destination;
  std::string source_ns;  ///< namespace of a pod, else empty
  std::string destination_ns;
  Ipv4Addr saddr = 0, daddr = 0;
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 0;
  uint8_t tcp_flags = 0;
  std::string direction;  ///< "egress" (source pod's hook) or "ingress" (destination pod's hook)
  std::string type;       ///< "L3_L4", or "L7" for connections with HTTP rules
  bool dropped = false;
  std::string reason;  ///< reason_name()
  uint32_t rule = 0xffffffffu;
  std::string policy;   ///< the deciding policy (or, for default deny, the isolating ones)
  std::string summary;  ///< protocol, flags, port and why
};

[[nodiscard]] std::string flow_header();
[[nodiscard]] std::string flow_text(const Flow& f);  ///< one line, no newline
[[nodiscard]] std::string flow_json(const Flow& f);  ///< one JSON object, no newline

struct FlowFilter {
  std::vector<std::string> pods;        ///< ns/pod or pod; matches source or destination
  std::vector<std::string> namespaces;  ///< matches source or destination namespace
  std::optional<bool> dropped;          ///< FORWARDED (false) or DROPPED (true)
  [[nodiscard]] bool matches(const Flow& f) const;
};

/// Reads the flow events of every node of a lab (the pinned ring buffers of the applied policy).
/// A ring buffer has one reader: two observers split the events between them.
class FlowReader {
 public:
  FlowReader();
  ~FlowReader();
  FlowReader(FlowReader&&) noexcept;
  FlowReader& operator=(FlowReader&&) noexcept;
  FlowReader(const FlowReader&) = delete;
  FlowReader& operator=(const FlowReader&) = delete;

  [[nodiscard]] static Result<FlowReader> open(const LabState& lab);
  /// Waits up to timeout_ms for events and calls `on_flow` for each; returns how many it saw.
  [[nodiscard]] Result<int> poll(int timeout_ms, const std::function<void(const Flow&)>& on_flow);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace polc::runtime
