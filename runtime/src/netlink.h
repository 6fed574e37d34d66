// A minimal rtnetlink client (links, addresses, routes, neighbours, tc filter dumps). A socket
// is bound to the network namespace it was opened in, so one Netlink per namespace configures
// it from anywhere without switching the thread's namespace.
#pragma once

#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "polc/runtime/handles.h"

namespace polc::runtime::nl {

/// One request message under construction: header, fixed body, attributes (nestable).
class Request {
 public:
  Request(uint16_t type, uint16_t flags);
  /// Appends the fixed-size body (ifinfomsg, rtmsg, ...) right after the header.
  template <typename T>
  T* body() {
    size_t off = buf_.size();
    append(nullptr, sizeof(T));
    return reinterpret_cast<T*>(buf_.data() + off);
  }
  void put(uint16_t type, const void* data, size_t len);
  void put_u32(uint16_t type, uint32_t v) { put(type, &v, sizeof v); }
  void put_u8(uint16_t type, uint8_t v) { put(type, &v, sizeof v); }
  /// Network-order IPv4 address attribute.
  void put_ipv4(uint16_t type, uint32_t host_order);
  void put_str(uint16_t type, const std::string& s) { put(type, s.c_str(), s.size() + 1); }
  /// Starts a nested attribute; returns a token for end_nest().
  size_t begin_nest(uint16_t type);
  void end_nest(size_t token);
  nlmsghdr* header() { return reinterpret_cast<nlmsghdr*>(buf_.data()); }
  [[nodiscard]] std::span<const uint8_t> bytes() const { return buf_; }

 private:
  void append(const void* data, size_t len);
  std::vector<uint8_t> buf_;
};

/// Iterates the rtattr list of a message body.
void for_each_attr(const void* attrs, size_t len, const std::function<void(const rtattr*)>& fn);
[[nodiscard]] inline const void* attr_data(const rtattr* a) {
  return RTA_DATA(a);
}
[[nodiscard]] inline size_t attr_len(const rtattr* a) {
  return RTA_PAYLOAD(a);
}
[[nodiscard]] std::string attr_str(const rtattr* a);
[[nodiscard]] uint32_t attr_u32(const rtattr* a);

class Socket {
 public:
  /// Opens a NETLINK_ROUTE socket in the calling thread's namespace.
  static Result<Socket> open();
  /// Opens one in `ns` (enters it briefly).
  static Result<Socket> open_in(const Netns& ns);
  static Result<Socket> open_in_fd(int ns_fd);

  /// Sends a request with NLM_F_ACK and waits for the acknowledgement. `what` prefixes errors.
  Status exec(Request& req, const std::string& what);
  /// Sends a dump (or get) request and returns every reply message (header included).
  Result<std::vector<std::vector<uint8_t>>> dump(Request& req, const std::string& what);

 private:
  Status send(Request& req, const std::string& what);
  Fd fd_;
  uint32_t seq_ = 0;
};

}  // namespace polc::runtime::nl
