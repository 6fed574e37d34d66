// Plain network value types of the runtime: IPv4 addresses (host byte order) and MAC addresses.
// The runtime's own small types, so that it needs nothing from ir/.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace polc::runtime {

/// An IPv4 address in host byte order.
using Ipv4Addr = uint32_t;

/// "10.10.1.2".
[[nodiscard]] std::string ipv4_str(Ipv4Addr ip);
/// Parses dotted-quad; nullopt on anything else.
[[nodiscard]] std::optional<Ipv4Addr> parse_ipv4(std::string_view s);

/// A MAC address.
struct Mac {
  std::array<uint8_t, 6> b{};
  friend bool operator==(const Mac&, const Mac&) = default;
  [[nodiscard]] std::string str() const;  ///< "0a:58:0a:0a:01:02"
  static std::optional<Mac> parse(std::string_view s);
};

/// "host:port" -> address and port; nullopt on syntax errors.
struct Endpoint4 {
  Ipv4Addr ip = 0;
  uint16_t port = 0;
};
[[nodiscard]] std::optional<Endpoint4> parse_endpoint(std::string_view s);

}  // namespace polc::runtime
