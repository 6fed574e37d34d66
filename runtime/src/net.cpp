#include "polc/runtime/net.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

#include "polc/runtime/result.h"

namespace polc::runtime {

Error sys_error(const std::string& what, int err) {
  return Error{what + ": " + std::strerror(err)};
}

std::string ipv4_str(Ipv4Addr ip) {
  return std::to_string(ip >> 24) + "." + std::to_string((ip >> 16) & 255) + "." + std::to_string((ip >> 8) & 255) +
         "." + std::to_string(ip & 255);
}

namespace {

std::optional<unsigned> parse_uint(std::string_view s, unsigned max) {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

}  // namespace

std::optional<Ipv4Addr> parse_ipv4(std::string_view s) {
  Ipv4Addr ip = 0;
  for (int i = 0; i < 4; ++i) {
    size_t dot = i < 3 ? s.find('.') : s.size();
    if (dot == std::string_view::npos) return std::nullopt;
    auto part = s.substr(0, dot);
    if (part.size() > 3 || (part.size() > 1 && part[0] == '0')) return std::nullopt;
    auto v = parse_uint(part, 255);
    if (!v) return std::nullopt;
    ip = (ip << 8) | *v;
    s = i < 3 ? s.substr(dot + 1) : std::string_view{};
  }
  return ip;
}

std::string Mac::str() const {
  char buf[18];
  std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
  return buf;
}

std::optional<Mac> Mac::parse(std::string_view s) {
  if (s.size() != 17) return std::nullopt;
  Mac m;
  for (int i = 0; i < 6; ++i) {
    if (i < 5 && s[i * 3 + 2] != ':') return std::nullopt;
    unsigned v = 0;
    auto [p, ec] = std::from_chars(s.data() + i * 3, s.data() + i * 3 + 2, v, 16);
    if (ec != std::errc() || p != s.data() + i * 3 + 2) return std::nullopt;
    m.b[i] = static_cast<uint8_t>(v);
  }
  return m;
}

std::optional<Endpoint4> parse_endpoint(std::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto ip = parse_ipv4(s.substr(0, colon));
  auto port = parse_uint(s.substr(colon + 1), 65535);
  if (!ip || !port) return std::nullopt;
  return Endpoint4{*ip, static_cast<uint16_t>(*port)};
}

}  // namespace polc::runtime
