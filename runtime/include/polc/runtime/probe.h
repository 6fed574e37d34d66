// Traffic for tests and demos: TCP/UDP echo and minimal HTTP/1.1 servers, and clients that
// report whether a connection or exchange succeeded within a timeout. Everything can run in any
// network namespace of the lab from one process (sockets keep the namespace they were created
// in), which is how the kernel tests probe every pod pair quickly. `polnode probe` is the CLI.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "polc/runtime/handles.h"
#include "polc/runtime/net.h"
#include "polc/runtime/result.h"

namespace polc::runtime {

enum class ProbeOutcome : uint8_t {
  Ok,           ///< connected / got a reply
  Refused,      ///< RST or ICMP port unreachable
  Timeout,      ///< nothing came back in time (what a dropping policy looks like)
  Unreachable,  ///< no route, or ICMP host/net unreachable
  Error,        ///< local failure (socket, namespace)
};
[[nodiscard]] const char* probe_outcome_name(ProbeOutcome o);

struct ProbeResult {
  ProbeOutcome outcome = ProbeOutcome::Error;
  std::string detail;   ///< errno text or protocol problem
  std::string reply;    ///< bytes received (UDP reply, TCP greeting/echo, HTTP body)
  int http_status = 0;  ///< HTTP only
  std::vector<std::pair<std::string, std::string>> http_headers;  ///< HTTP only, names lower-cased
  double millis = 0;                                              ///< time to the outcome
  [[nodiscard]] bool ok() const { return outcome == ProbeOutcome::Ok; }
};

struct ProbeOptions {
  int timeout_ms = 1000;
  const Netns* netns = nullptr;  ///< where the client socket lives; null = the caller's namespace
  uint16_t source_port = 0;      ///< 0 = ephemeral
  std::string send;              ///< TCP: bytes to send after connecting
  bool read_reply = false;       ///< TCP: wait for a reply (a server greeting or the echo of `send`)
};

/// Connects over TCP. Ok when the handshake completes (and, with read_reply, a reply arrives).
[[nodiscard]] ProbeResult tcp_connect(Endpoint4 to, const ProbeOptions& opt = {});
/// Sends one UDP datagram and waits for one reply.
[[nodiscard]] ProbeResult udp_exchange(Endpoint4 to, const std::string& payload, const ProbeOptions& opt = {});

struct HttpRequest {
  std::string method = "GET";
  std::string path = "/";
  std::string host;  ///< Host header; default the target address
  std::vector<std::pair<std::string, std::string>> headers;
};
/// Sends one HTTP/1.1 request (Connection: close) and reads the response. Ok when a complete
/// response arrives, whatever its status (see http_status).
[[nodiscard]] ProbeResult http_request(Endpoint4 to, const HttpRequest& req, const ProbeOptions& opt = {});

/// What a ProbeServer listens on (all addresses of its namespace).
struct ServerSpec {
  std::vector<uint16_t> tcp;   ///< echo; with an id, greets each connection with "<id>\n" first
  std::vector<uint16_t> udp;   ///< echo; with an id, replies "<id>\n<payload>"
  std::vector<uint16_t> http;  ///< answers every request 200 with body "[<id> ]<METHOD> <path>\n"
  std::string id;              ///< identifies the server in replies (e.g. the pod name)
};

/// Serves a ServerSpec from a background thread until destroyed. All sockets are bound before
/// start() returns, so a client may connect right away.
class ProbeServer {
 public:
  ProbeServer();
  ~ProbeServer();
  ProbeServer(ProbeServer&&) noexcept;
  ProbeServer& operator=(ProbeServer&&) noexcept;
  ProbeServer(const ProbeServer&) = delete;
  ProbeServer& operator=(const ProbeServer&) = delete;

  /// Binds every port (in `netns` when given) and starts serving.
  static Result<ProbeServer> start(const ServerSpec& spec, const Netns* netns = nullptr);
  /// Stops serving and closes every socket.
  void stop();

  [[nodiscard]] uint64_t tcp_accepted() const;
  [[nodiscard]] uint64_t udp_received() const;
  [[nodiscard]] uint64_t http_requests() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace polc::runtime
