// The layout.json codec: turns map keys and values between the bytes of the abi.h structs and
// their JSON form, driven by the type layouts layout.json carries (read from the object's BTF).
// Header-only so that the runtime and tests can fill maps from layout.json without linking the
// compiler.
//
// Type layout schema:
//   {"kind": "u8"|"u16"|"u32"|"u64", "size": N}          host byte order integers
//   {"kind": "ipv4", "size": 4}                           network byte order, JSON "10.0.0.1"
//   {"kind": "struct", "name": S, "size": N, "fields": [{"name": F, "offset": O, "type": T}]}
//   {"kind": "array", "size": N, "count": C, "element": T}
// In values, struct fields named pad* are left out (they are zero).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace polc::backend_bpf::layout {

inline bool is_padding(const std::string& name) {
  return name.rfind("pad", 0) == 0;
}

/// The JSON form of the bytes at `p` (at least type["size"] of them).
inline nlohmann::json decode(const nlohmann::json& type, const uint8_t* p) {
  const std::string kind = type.at("kind").get<std::string>();
  if (kind == "struct") {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& f : type.at("fields")) {
      std::string name = f.at("name").get<std::string>();
      if (is_padding(name)) continue;
      out[name] = decode(f.at("type"), p + f.at("offset").get<size_t>());
    }
    return out;
  }
  if (kind == "array") {
    nlohmann::json out = nlohmann::json::array();
    const auto& elem = type.at("element");
    size_t step = elem.at("size").get<size_t>();
    for (size_t i = 0; i < type.at("count").get<size_t>(); ++i) out.push_back(decode(elem, p + i * step));
    return out;
  }
  if (kind == "ipv4")
    return std::to_string(p[0]) + "." + std::to_string(p[1]) + "." + std::to_string(p[2]) + "." + std::to_string(p[3]);
  if (kind == "u8") return p[0];
  if (kind == "u16") {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
  }
  if (kind == "u32") {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
  }
  if (kind == "u64") {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  }
  throw std::runtime_error("layout.json: unknown type kind '" + kind + "'");
}

inline bool parse_ipv4(const std::string& s, uint8_t out[4]) {
  unsigned a, b, c, d;
  char tail;
  if (std::sscanf(s.c_str(), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) != 4 || a > 255 || b > 255 || c > 255 || d > 255)
    return false;
  out[0] = static_cast<uint8_t>(a);
  out[1] = static_cast<uint8_t>(b);
  out[2] = static_cast<uint8_t>(c);
  out[3] = static_cast<uint8_t>(d);
  return true;
}

/// Writes `value` at `p` (type["size"] bytes, zeroed by the caller). Throws std::runtime_error
/// naming the problem when the value does not fit the type.
inline void encode_into(const nlohmann::json& type, const nlohmann::json& value, uint8_t* p) {
  const std::string kind = type.at("kind").get<std::string>();
  if (kind == "struct") {
    for (const auto& f : type.at("fields")) {
      std::string name = f.at("name").get<std::string>();
      if (!value.contains(name)) continue;
      encode_into(f.at("type"), value.at(name), p + f.at("offset").get<size_t>());
    }
    return;
  }
  if (kind == "array") {
    const auto& elem = type.at("element");
    size_t step = elem.at("size").get<size_t>();
    size_t n = std::min(value.size(), type.at("count").get<size_t>());
    for (size_t i = 0; i < n; ++i) encode_into(elem, value.at(i), p + i * step);
    return;
  }
  if (kind == "ipv4") {
    if (!parse_ipv4(value.get<std::string>(), p))
      throw std::runtime_error("layout.json: bad IPv4 address " + value.dump());
    return;
  }
  uint64_t v = value.get<uint64_t>();
  size_t size = type.at("size").get<size_t>();
  if (size < 8 && (v >> (8 * size)) != 0)
    throw std::runtime_error("layout.json: " + value.dump() + " overflows " + kind);
  switch (size) {
    case 1: p[0] = static_cast<uint8_t>(v); return;
    case 2: {
      uint16_t x = static_cast<uint16_t>(v);
      std::memcpy(p, &x, 2);
      return;
    }
    case 4: {
      uint32_t x = static_cast<uint32_t>(v);
      std::memcpy(p, &x, 4);
      return;
    }
    case 8: std::memcpy(p, &v, 8); return;
    default: throw std::runtime_error("layout.json: unsupported integer size");
  }
}

/// The bytes of `value` as `type`.
inline std::vector<uint8_t> encode(const nlohmann::json& type, const nlohmann::json& value) {
  std::vector<uint8_t> out(type.at("size").get<size_t>());
  encode_into(type, value, out.data());
  return out;
}

}  // namespace polc::backend_bpf::layout
