#include "policy_common.h"

namespace polc::frontend {

ir::Policy& add_policy(LoadContext& ctx, ir::Policy p) {
  p.id = ir::PolicyId(static_cast<uint32_t>(ctx.model.policies.size()));
  ctx.model.policies.push_back(std::move(p));
  return ctx.model.policies.back();
}

ir::Rule& add_rule(LoadContext& ctx, ir::Policy& pol, ir::Rule r) {
  r.id = ir::RuleId(static_cast<uint32_t>(ctx.model.rules.size()));
  r.policy = pol.id;
  pol.rules.push_back(r.id);
  ctx.model.rules.push_back(std::move(r));
  return ctx.model.rules.back();
}

std::optional<ir::Cidr> read_cidr(Reader& r, const Cursor& at, bool allow_bare) {
  auto s = r.string(at);
  if (!s) return std::nullopt;
  ir::Cidr::ParseError err{};
  auto c = ir::Cidr::parse(*s, &err, allow_bare);
  if (c) return c;
  if (s->find(':') != std::string::npos && err == ir::Cidr::ParseError::Syntax) {
    r.warn(ir::DiagId::UnsupportedField, at, "IPv6 CIDR '" + *s + "' is not modelled; polc handles IPv4 only");
    return std::nullopt;
  }
  switch (err) {
    case ir::Cidr::ParseError::PrefixRange:
      r.error(ir::DiagId::InvalidCidr, at, "invalid CIDR '" + *s + "': prefix length must be 0-32");
      break;
    case ir::Cidr::ParseError::HostBits: {
      // Kubernetes (legacy CIDR parsing) and Cilium accept host bits and mask them
      // (docs/semantics.md §13 and decision 8): warn and use the masked prefix.
      auto slash = s->find('/');
      auto ip = ir::Ipv4::parse(s->substr(0, slash));
      int len = std::stoi(s->substr(slash + 1));
      ir::Cidr fixed{ir::Ipv4{ip->value & (len == 0 ? 0u : ~0u << (32 - len))}, static_cast<uint8_t>(len)};
      r.warn(ir::DiagId::InvalidCidr, at, "CIDR '" + *s + "' has host bits set; it means '" + fixed.str() + "'",
             "write '" + fixed.str() + "'");
      return fixed;
    }
    case ir::Cidr::ParseError::Syntax:
    case ir::Cidr::ParseError::None:
      r.error(ir::DiagId::InvalidCidr, at, "invalid CIDR '" + *s + "'" + (allow_bare ? "" : "; expected a.b.c.d/len"));
      break;
  }
  return std::nullopt;
}

ir::LabelSelector namespace_named(const std::string& ns) {
  return ir::LabelSelector::equals(ir::kNamespaceNameLabel, ns);
}

}  // namespace polc::frontend
