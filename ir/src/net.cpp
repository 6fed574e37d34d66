#include "polc/ir/net.h"

#include <cctype>
#include <charconv>

namespace polc::ir {

std::string Ipv4::str() const {
  return std::to_string(value >> 24) + '.' + std::to_string((value >> 16) & 255) + '.' +
         std::to_string((value >> 8) & 255) + '.' + std::to_string(value & 255);
}

std::optional<Ipv4> Ipv4::parse(std::string_view s) {
  uint32_t v = 0;
  size_t pos = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (pos >= s.size() || s[pos] != '.') return std::nullopt;
      ++pos;
    }
    size_t start = pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
    size_t n = pos - start;
    if (n == 0 || n > 3 || (n > 1 && s[start] == '0')) return std::nullopt;
    unsigned octet = 0;
    std::from_chars(s.data() + start, s.data() + pos, octet);
    if (octet > 255) return std::nullopt;
    v = (v << 8) | octet;
  }
  if (pos != s.size()) return std::nullopt;
  return Ipv4{v};
}

std::string Cidr::str() const {
  return addr.str() + '/' + std::to_string(len);
}

std::optional<Cidr> Cidr::parse(std::string_view s, ParseError* err, bool allow_bare) {
  auto fail = [&](ParseError e) -> std::optional<Cidr> {
    if (err) *err = e;
    return std::nullopt;
  };
  if (err) *err = ParseError::None;
  auto slash = s.find('/');
  if (slash == std::string_view::npos) {
    if (!allow_bare) return fail(ParseError::Syntax);
    auto ip = Ipv4::parse(s);
    if (!ip) return fail(ParseError::Syntax);
    return Cidr{*ip, 32};
  }
  auto ip = Ipv4::parse(s.substr(0, slash));
  if (!ip) return fail(ParseError::Syntax);
  auto lens = s.substr(slash + 1);
  if (lens.empty() || lens.size() > 3) return fail(ParseError::Syntax);
  unsigned len = 0;
  for (char c : lens)
    if (!std::isdigit(static_cast<unsigned char>(c))) return fail(ParseError::Syntax);
  std::from_chars(lens.data(), lens.data() + lens.size(), len);
  if (len > 32) return fail(ParseError::PrefixRange);
  Cidr c{*ip, static_cast<uint8_t>(len)};
  if ((ip->value & c.mask()) != ip->value) return fail(ParseError::HostBits);
  return c;
}

std::string_view protocol_name(uint8_t proto) {
  switch (proto) {
    case 1: return "ICMP";
    case 6: return "TCP";
    case 17: return "UDP";
    case 132: return "SCTP";
    default: return "OTHER";
  }
}

std::optional<uint8_t> parse_protocol(std::string_view s) {
  std::string u;
  for (char c : s) u += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (u == "TCP") return 6;
  if (u == "UDP") return 17;
  if (u == "SCTP") return 132;
  if (u == "ICMP") return 1;
  return std::nullopt;
}

ProtoSet ProtoSet::of(uint8_t proto) {
  switch (proto) {
    case 6: return ProtoSet(kTcp);
    case 17: return ProtoSet(kUdp);
    case 132: return ProtoSet(kSctp);
    case 1: return ProtoSet(kIcmp);
    default: return ProtoSet(kOther);
  }
}

std::string ProtoSet::str() const {
  if (is_all()) return "ANY";
  if (bits_ == with_ports().bits_) return "TCP|UDP|SCTP";
  std::string s;
  auto add = [&](uint8_t b, const char* n) {
    if (bits_ & b) {
      if (!s.empty()) s += '|';
      s += n;
    }
  };
  add(kTcp, "TCP");
  add(kUdp, "UDP");
  add(kSctp, "SCTP");
  add(kIcmp, "ICMP");
  add(kOther, "OTHER");
  return s.empty() ? "NONE" : s;
}

std::string PortRange::str() const {
  if (is_all()) return "*";
  if (lo == hi) return std::to_string(lo);
  return std::to_string(lo) + '-' + std::to_string(hi);
}

}  // namespace polc::ir
