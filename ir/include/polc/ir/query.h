// A question about a Model as the user wrote it (`polc query`), or an assertion of an
// assertions file (`polc lint --assert`): the frontend's query grammar produces them, the
// verifier resolves their names against a Model and answers or checks them. Plain data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "polc/ir/labels.h"
#include "polc/ir/net.h"
#include "polc/ir/source.h"

namespace polc::ir {

/// One side of a question, before resolution.
struct QueryEndpoint {
  enum class Kind : uint8_t {
    Name,      ///< `frontend`, `frontend-0`, `prod/frontend`: a workload or a pod
    Selector,  ///< `{app=web}`, `prod/{app=web}`, `{team=a}/{app=web}`: any pod with these labels
    Service,   ///< `svc:backend`, `svc:prod/backend`: the service's backends
    Node,      ///< `node:node-1`
    Address,   ///< `10.0.0.1`, `10.0.0.0/8`: whatever owns the addresses (pods, nodes, the world)
    World,     ///< every address outside the cluster
    Any,       ///< every endpoint: any pod (existing or not), node or external address
  };
  Kind kind = Kind::Name;
  std::string ns;     ///< Name, Service: the namespace part (empty = not given); Selector: a namespace name
  std::string name;   ///< Name, Service, Node
  LabelSelector pod;  ///< Selector: pod labels
  std::optional<LabelSelector> ns_labels;  ///< Selector: namespace labels (`{team=a}/{app=web}`)
  Cidr cidr;                               ///< Address (a bare IP is a /32)
  std::string text;                        ///< as written
  SourceLoc loc;                           ///< first character
};

/// `:5432` or `:http`.
struct QueryPort {
  std::optional<uint16_t> number;
  std::string name;  ///< a named port when `number` is empty
  std::string text;
  SourceLoc loc;
};

/// `GET /api/v1/users` after the destination.
struct QueryHttp {
  std::string method;
  std::string path = "/";
  SourceLoc loc;
};

enum class QueryKind : uint8_t {
  Can,   ///< can SRC reach DST[:port][/proto] [METHOD /path]
  Who,   ///< who can reach DST[:port][/proto]
  What,  ///< what can SRC reach
  Probe  ///< a batch line: SRC -> DST[:port][/proto] [METHOD /path]
};

struct Query {
  QueryKind kind = QueryKind::Can;
  std::optional<QueryEndpoint> src;  ///< absent for Who
  std::optional<QueryEndpoint> dst;  ///< absent for What
  std::optional<QueryPort> port;
  std::optional<uint8_t> proto;  ///< IP protocol number
  SourceLoc proto_loc;
  std::optional<QueryHttp> http;
  std::string text;
};

/// What an assertion claims (docs/lint.md).
enum class AssertionKind : uint8_t {
  MustNotReach,  ///< `A must not reach B`, `A cannot reach B`, `B is not reachable from A`, `no pod in namespace N is
                 ///< reachable from A`
  MustReach,     ///< `A must reach B`, `A can reach B`, `B is reachable from A`: every pair
  OnlyCanReach,  ///< `only A can reach B`: no endpoint outside A reaches B
};

/// One line of an assertions file.
struct Assertion {
  AssertionKind kind = AssertionKind::MustNotReach;
  Query query;  ///< QueryKind::Can: src, dst, port, proto, http
  std::string text;
  SourceLoc loc;  ///< first character of the assertion
};

}  // namespace polc::ir
