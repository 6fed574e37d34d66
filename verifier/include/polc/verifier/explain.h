// RenderAnswers: the text (for platform engineers) and JSON (for machines) renderings of query
// answers: a reachability verdict with its witness and deciding rules, or a who/what listing.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "polc/ir/model.h"
#include "polc/verifier/connectivity.h"
#include "polc/verifier/reach.h"
#include "polc/verifier/resolve.h"

namespace polc::verifier {

/// "ALLOW src -> dst:port/PROTO" + one line per direction with the deciding rules or the
/// isolating policies (file:line:col), the witness request for HTTP, a denied pair if any.
[[nodiscard]] std::string render_reach_text(const ir::Model& m, const ReachQuery& q, const ReachAnswer& a);
[[nodiscard]] nlohmann::json render_reach_json(const ir::Model& m, const ReachQuery& q, const ReachAnswer& a);

/// "80/TCP", "ICMP type 8", "protocol 47".
[[nodiscard]] std::string port_str(uint8_t proto, uint16_t port);
/// "default/frontend-0 -> default/backend-0:80/TCP GET /x" (the batch-line form).
[[nodiscard]] std::string packet_str(const ir::Model& m, const Packet& p);

enum class ListingKind { Who, What };
[[nodiscard]] std::string render_listing_text(const ir::Model& m, ListingKind kind, const EndpointSet& subject,
                                              std::optional<uint8_t> proto, std::optional<uint16_t> port,
                                              const ReachListing& l);
[[nodiscard]] nlohmann::json render_listing_json(const ir::Model& m, ListingKind kind, const EndpointSet& subject,
                                                 std::optional<uint8_t> proto, std::optional<uint16_t> port,
                                                 const ReachListing& l);
[[nodiscard]] nlohmann::json port_set_json(const PortSet& p);

}  // namespace polc::verifier
