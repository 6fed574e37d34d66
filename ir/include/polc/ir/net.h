// Network primitives of the IR: IPv4 addresses, CIDRs, protocols and port ranges.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace polc::ir {

/// An IPv4 address in host byte order.
struct Ipv4 {
  uint32_t value = 0;
  friend auto operator<=>(const Ipv4&, const Ipv4&) = default;
  [[nodiscard]] std::string str() const;
  /// Parses dotted-quad; nullopt on anything else (no leading zeros beyond "0", no spaces).
  static std::optional<Ipv4> parse(std::string_view s);
};

/// An IPv4 prefix. Invariant after parse/make: host bits are zero.
struct Cidr {
  Ipv4 addr;
  uint8_t len = 0;
  friend auto operator<=>(const Cidr&, const Cidr&) = default;

  [[nodiscard]] uint32_t mask() const { return len == 0 ? 0u : ~0u << (32 - len); }
  [[nodiscard]] bool contains(Ipv4 ip) const { return (ip.value & mask()) == addr.value; }
  [[nodiscard]] bool contains(const Cidr& o) const { return o.len >= len && contains(o.addr); }
  [[nodiscard]] bool overlaps(const Cidr& o) const { return contains(o) || o.contains(*this); }
  [[nodiscard]] uint32_t first() const { return addr.value; }
  [[nodiscard]] uint32_t last() const { return addr.value | ~mask(); }
  [[nodiscard]] std::string str() const;

  enum class ParseError { None, Syntax, PrefixRange, HostBits };
  /// Parses "a.b.c.d/n" (or a bare address as /32 when allow_bare). Host bits set is an error
  /// (the Kubernetes API rejects them), reported through `err`.
  static std::optional<Cidr> parse(std::string_view s, ParseError* err = nullptr, bool allow_bare = false);
};

/// IP protocols that policies distinguish.
enum class Protocol : uint8_t { ICMP = 1, TCP = 6, UDP = 17, SCTP = 132 };

[[nodiscard]] std::string_view protocol_name(uint8_t proto);
/// "TCP"/"tcp" -> 6 etc. Accepts TCP, UDP, SCTP, ICMP (case-insensitive).
[[nodiscard]] std::optional<uint8_t> parse_protocol(std::string_view s);
[[nodiscard]] inline bool protocol_has_ports(uint8_t p) {
  return p == static_cast<uint8_t>(Protocol::TCP) || p == static_cast<uint8_t>(Protocol::UDP) ||
         p == static_cast<uint8_t>(Protocol::SCTP);
}

/// A set of IP protocols: bits for the protocols with ports, ICMP, and "every other protocol".
class ProtoSet {
 public:
  enum Bit : uint8_t { kTcp = 1, kUdp = 2, kSctp = 4, kIcmp = 8, kOther = 16 };
  static constexpr uint8_t kAllBits = 31;
  constexpr ProtoSet() = default;
  constexpr explicit ProtoSet(uint8_t bits) : bits_(bits) {}
  static constexpr ProtoSet all() { return ProtoSet(kAllBits); }
  static constexpr ProtoSet with_ports() { return ProtoSet(kTcp | kUdp | kSctp); }
  static ProtoSet of(uint8_t proto);
  [[nodiscard]] bool contains(uint8_t proto) const { return (bits_ & of(proto).bits_) != 0; }
  [[nodiscard]] bool empty() const { return bits_ == 0; }
  [[nodiscard]] bool is_all() const { return bits_ == kAllBits; }
  [[nodiscard]] uint8_t bits() const { return bits_; }
  [[nodiscard]] std::string str() const;  ///< "TCP", "TCP|UDP", "ANY", ...
  friend auto operator<=>(const ProtoSet&, const ProtoSet&) = default;

 private:
  uint8_t bits_ = 0;
};

/// An inclusive port range; {0, 65535} is "every port".
struct PortRange {
  uint16_t lo = 0;
  uint16_t hi = 65535;
  friend auto operator<=>(const PortRange&, const PortRange&) = default;
  [[nodiscard]] bool contains(uint16_t p) const { return p >= lo && p <= hi; }
  [[nodiscard]] bool is_all() const { return lo == 0 && hi == 65535; }
  [[nodiscard]] std::string str() const;  ///< "80", "8000-8080", "*"
};

}  // namespace polc::ir
