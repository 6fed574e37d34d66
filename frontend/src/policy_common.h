// Helpers shared by the NetworkPolicy and Cilium policy parsers.
#pragma once

#include "load_context.h"

namespace polc::frontend {

/// Appends a policy (assigning its id) and returns it.
ir::Policy& add_policy(LoadContext& ctx, ir::Policy p);
/// Appends a rule to `pol` (assigning its id and policy) and returns it.
ir::Rule& add_rule(LoadContext& ctx, ir::Policy& pol, ir::Rule r);
/// Parses "10.0.0.0/8" (or a bare IP when `allow_bare`), reporting invalid-cidr at `at`. Host bits
/// are masked with a warning. An IPv6 CIDR returns nullopt with only a warning (not modelled).
std::optional<ir::Cidr> read_cidr(Reader& r, const Cursor& at, bool allow_bare);
/// The selector that picks one namespace by name.
ir::LabelSelector namespace_named(const std::string& ns);

}  // namespace polc::frontend
