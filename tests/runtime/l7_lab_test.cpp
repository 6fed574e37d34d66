// Issue 8's acceptance test in a lab: `polc compile` + `polnode apply` on samples/l7-api and
// samples/cilium-demo, real HTTP servers and clients in the pods' namespaces. Allowed requests
// reach the server untouched; refused ones get Cilium's "403 Forbidden / Access denied" and never
// reach the server; every request of a keep-alive connection is judged; the evasion suite (split
// request line, pipelining, path and method tricks, HTTP/2 preface) lets nothing through, which
// the server's own log of received requests proves.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "lab_test_util.h"
#include "polc/runtime/handles.h"
#include "polc/runtime/lab.h"
#include "polc/runtime/probe.h"

namespace polc::runtime {
namespace {

using testing::LabGuard;
using testing::run;
using testing::TempDir;
using testing::unique_lab;

const std::string kSrc = POLC_SOURCE_DIR;

sockaddr_in addr_of(Ipv4Addr ip, uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(ip);
  return a;
}

/// An HTTP/1.1 server with keep-alive (the probe server closes after each response), in a pod's
/// namespace: answers each request "200" with body "<METHOD> <target>" and logs what it got.
class KeepAliveServer {
 public:
  KeepAliveServer(const Netns& ns, uint16_t port) {
    auto fd = socket_in(ns, AF_INET, SOCK_STREAM);
    EXPECT_TRUE(fd) << fd.error().message;
    listen_ = std::move(*fd);
    int one = 1;
    ::setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a = addr_of(0, port);
    EXPECT_EQ(::bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    EXPECT_EQ(::listen(listen_.get(), 64), 0);
    thread_ = std::thread([this] { loop(); });
  }
  ~KeepAliveServer() {
    stop_ = true;
    thread_.join();
  }
  KeepAliveServer(const KeepAliveServer&) = delete;
  KeepAliveServer& operator=(const KeepAliveServer&) = delete;

  /// Connections currently open on the server side.
  size_t open_connections() const { return open_.load(); }
  /// Request lines received so far.
  std::vector<std::string> log() {
    std::lock_guard<std::mutex> l(mu_);
    return log_;
  }

 private:
  void loop() {
    std::map<int, std::string> conns;  // fd -> buffered input
    while (!stop_) {
      std::vector<pollfd> fds{{listen_.get(), POLLIN, 0}};
      for (auto& [fd, buf] : conns) fds.push_back({fd, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        int c = ::accept(listen_.get(), nullptr, nullptr);
        if (c >= 0) conns[c];
      }
      open_ = conns.size();
      for (size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        int fd = fds[i].fd;
        char b[4096];
        ssize_t n = ::read(fd, b, sizeof b);
        if (n <= 0) {
          ::close(fd);
          conns.erase(fd);
          open_ = conns.size();
          continue;
        }
        std::string& in = conns[fd];
        in.append(b, static_cast<size_t>(n));
        for (size_t end; (end = in.find("\r\n\r\n")) != std::string::npos;) {
          std::string head = in.substr(0, end);
          size_t body = 0;
          if (auto cl = head.find("Content-Length: "); cl != std::string::npos) body = std::stoul(head.substr(cl + 16));
          if (in.size() < end + 4 + body) break;
          in.erase(0, end + 4 + body);
          std::string line = head.substr(0, head.find("\r\n"));
          {
            std::lock_guard<std::mutex> l(mu_);
            log_.push_back(line);
          }
          std::string reply_body = line.substr(0, line.rfind(' '));
          std::string reply =
              "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(reply_body.size()) + "\r\n\r\n" + reply_body;
          (void)!::write(fd, reply.data(), reply.size());
        }
      }
    }
    for (auto& [fd, buf] : conns) ::close(fd);
  }

  Fd listen_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> open_{0};
  std::mutex mu_;
  std::vector<std::string> log_;
};

/// A client connection from a pod's namespace, writing segments as the test says (TCP_NODELAY).
class Client {
 public:
  Client(const Netns& ns, Ipv4Addr ip, uint16_t port) {
    auto fd = socket_in(ns, AF_INET, SOCK_STREAM);
    EXPECT_TRUE(fd) << fd.error().message;
    fd_ = std::move(*fd);
    int one = 1;
    ::setsockopt(fd_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a = addr_of(ip, port);
    connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (!connected_) error_ = std::strerror(errno);
  }
  [[nodiscard]] const std::string& error() const { return error_; }
  [[nodiscard]] bool connected() const { return connected_; }
  void send(const std::string& s) { (void)!::send(fd_.get(), s.data(), s.size(), MSG_NOSIGNAL); }
  /// True when the peer closed the connection in order (FIN) and nothing more arrives.
  bool at_eof() {
    char b;
    return ::recv(fd_.get(), &b, 1, 0) == 0;
  }
  /// Reads one response (head + Content-Length body), or whatever arrives before EOF/timeout.
  std::string response() {
    std::string in;
    char b[4096];
    for (;;) {
      if (auto end = in.find("\r\n\r\n"); end != std::string::npos) {
        size_t body = 0;
        auto cl = in.find("ontent-length: ");
        if (cl != std::string::npos && cl < end) body = std::stoul(in.substr(cl + 15));
        if (in.size() >= end + 4 + body) return in;
      }
      ssize_t n = ::recv(fd_.get(), b, sizeof b, 0);
      if (n <= 0) return in;
      in.append(b, static_cast<size_t>(n));
    }
  }

 private:
  Fd fd_;
  bool connected_ = false;
  std::string error_;
};

bool is_200(const std::string& r) {
  return r.rfind("HTTP/1.1 200 OK\r\n", 0) == 0;
}
bool is_403(const std::string& r) {
  return r.rfind("HTTP/1.1 403 Forbidden\r\n", 0) == 0 && r.find("\r\n\r\nAccess denied") != std::string::npos;
}

class L7Lab : public ::testing::Test {
 protected:
  void up(const std::string& dir, const std::string& tag) {
    guard_ = std::make_unique<LabGuard>(unique_lab(tag));
    auto r = run({testing::polnode(), "lab", "up", dir, "--name", guard_->name()});
    ASSERT_EQ(r.rc, 0) << r.out;
    auto s = load_lab_state(guard_->name());
    ASSERT_TRUE(s) << s.error().message;
    lab_ = std::move(*s);
    std::string out = tmp_.path() + "/out";
    r = run({testing::polc(), "compile", dir, "-o", out});
    ASSERT_EQ(r.rc, 0) << r.out;
    EXPECT_EQ(r.out.find("l7-not-enforced"), std::string::npos) << r.out;
    r = run({testing::polnode(), "apply", out, "--name", guard_->name()});
    ASSERT_EQ(r.rc, 0) << r.out;
  }
  const LabPodState& pod(const std::string& name) const {
    for (const auto& p : lab_.pods)
      if (p.pod.full_name() == name) return p;
    throw std::runtime_error("no pod " + name);
  }
  const Netns& ns(const std::string& name) {
    const auto& p = pod(name);
    auto it = netns_.find(p.netns);
    if (it == netns_.end()) it = netns_.emplace(p.netns, Netns::open(p.netns).value()).first;
    return it->second;
  }
  /// One request with the probe client (Connection: close): the status, 0 when none came.
  int status(const std::string& from, const std::string& to, uint16_t port, const std::string& method,
             const std::string& path, std::string* body = nullptr) {
    ProbeOptions o;
    o.netns = &ns(from);
    o.timeout_ms = 1000;
    HttpRequest req;
    req.method = method;
    req.path = path;
    auto r = http_request({pod(to).pod.ip, port}, req, o);
    if (body) *body = r.reply;
    return r.ok() ? r.http_status : 0;
  }

  TempDir tmp_;
  std::unique_ptr<LabGuard> guard_;
  LabState lab_;
  std::map<std::string, Netns> netns_;
};

TEST_F(L7Lab, L7ApiChapterChecksAndEvasions) {
  up(kSrc + "/samples/l7-api", "l7api");
  KeepAliveServer server(ns("default/api"), 8080);
  const Ipv4Addr api = pod("default/api").pod.ip;

  // The chapter's four checks, with the probe client.
  std::string body;
  EXPECT_EQ(status("default/client", "default/api", 8080, "GET", "/api/v1/users", &body), 200);
  EXPECT_EQ(body, "GET /api/v1/users");
  EXPECT_EQ(status("default/client", "default/api", 8080, "POST", "/api/v1/users"), 200);
  EXPECT_EQ(status("default/client", "default/api", 8080, "DELETE", "/api/v1/users/1", &body), 403);
  EXPECT_EQ(body, "Access denied\r\n");
  EXPECT_EQ(status("default/client", "default/api", 8080, "GET", "/admin"), 403);
  // Other sources never connect (L4).
  EXPECT_EQ(status("default/other", "default/api", 8080, "GET", "/api/v1/users"), 0);
  EXPECT_EQ(status("test/client", "default/api", 8080, "GET", "/api/v1/users"), 0);

  // Keep-alive: every request is judged, the refused one ends the connection.
  {
    Client c(ns("default/client"), api, 8080);
    ASSERT_TRUE(c.connected());
    c.send("GET /api/v1/users HTTP/1.1\r\nHost: api\r\n\r\n");
    EXPECT_TRUE(is_200(c.response()));
    c.send("POST /api/v1/users HTTP/1.1\r\nHost: api\r\nContent-Length: 5\r\n\r\nhello");
    EXPECT_TRUE(is_200(c.response()));
    c.send("GET /api/v1/users/2 HTTP/1.1\r\nHost: api\r\n\r\n");
    EXPECT_TRUE(is_200(c.response()));
    c.send("DELETE /api/v1/users/2 HTTP/1.1\r\nHost: api\r\n\r\n");
    EXPECT_TRUE(is_403(c.response()));
    EXPECT_TRUE(c.at_eof()) << "the 403 comes with FIN, acking the refused request";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(server.open_connections(), 0u) << "the server's side was reset";
    c.send("GET /api/v1/users HTTP/1.1\r\nHost: api\r\n\r\n");
    EXPECT_FALSE(is_200(c.response())) << "the connection is dead after a refusal";
  }
  // The evasion suite: each on its own connection; none may reach the server.
  struct Evasion {
    const char* what;
    std::vector<std::string> segments;
  };
  const std::vector<Evasion> evasions = {
      {"split request line", {"GET /api/v1/us", "ers HTTP/1.1\r\nHost: api\r\n\r\n"}},
      {"split request line (disallowed)", {"DELETE /api/v1/us", "ers/1 HTTP/1.1\r\nHost: api\r\n\r\n"}},
      {"pipelining", {"GET /api/v1/users HTTP/1.1\r\nHost: api\r\n\r\nDELETE /api/v1/users/1 HTTP/1.1\r\n\r\n"}},
      {"body then pipelined request",
       {"POST /api/v1/users HTTP/1.1\r\nContent-Length: 2\r\n\r\nokDELETE /api/v1/users/1 HTTP/1.1\r\n\r\n"}},
      {"dot-dot", {"GET /api/v1/../admin HTTP/1.1\r\nHost: api\r\n\r\n"}},
      {"dot", {"GET /api/v1/./users HTTP/1.1\r\nHost: api\r\n\r\n"}},
      {"double slash", {"GET /api/v1//users HTTP/1.1\r\nHost: api\r\n\r\n"}},
      {"encoded dots", {"GET /api/v1/%2e%2e/admin HTTP/1.1\r\nHost: api\r\n\r\n"}},
      {"encoded slash", {"GET /api/v1/%2fadmin HTTP/1.1\r\nHost: api\r\n\r\n"}},
      {"lower-case method", {"get /api/v1/users HTTP/1.1\r\nHost: api\r\n\r\n"}},
      {"mixed-case method", {"Delete /api/v1/users/1 HTTP/1.1\r\nHost: api\r\n\r\n"}},
      {"HTTP/2 preface", {std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string("\0\0\0\x04\0\0\0\0\0", 9)}},
      {"chunked body", {"POST /api/v1/users HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"}},
  };
  const size_t before = server.log().size();
  for (const auto& e : evasions) {
    Client c(ns("default/client"), api, 8080);
    ASSERT_TRUE(c.connected()) << e.what;
    for (const auto& s : e.segments) {
      c.send(s);
      std::this_thread::sleep_for(std::chrono::milliseconds(30));  // separate segments
    }
    std::string r = c.response();
    EXPECT_FALSE(is_200(r)) << e.what << ": " << r;
    EXPECT_TRUE(is_403(r)) << e.what << ": " << r;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto log = server.log();
  EXPECT_EQ(log.size(), before) << "a refused request reached the server: " << log.back();
  for (const auto& line : log)
    EXPECT_TRUE(line.rfind("GET /api/v1/", 0) == 0 || line == "POST /api/v1/users HTTP/1.1") << line;

  auto st = run({testing::polnode(), "status", "--name", guard_->name()});
  EXPECT_NE(st.out.find("l7-denied"), std::string::npos) << st.out;
  for (const char* why : {"http-denied", "http-incomplete", "http-pipelined", "http-http2", "http-bad-path",
                          "http-bad-method", "http-untracked-body", "http-responses-sent", "http-allowed"})
    EXPECT_NE(st.out.find(why), std::string::npos) << why << " in\n" << st.out;
}

TEST_F(L7Lab, CiliumDemoNginxToHttpbin) {
  up(kSrc + "/samples/cilium-demo", "l7demo");
  std::vector<std::unique_ptr<ProbeServer>> servers;
  for (const char* name : {"demo/httpbin-v1-0", "demo/httpbin-v2-0"}) {
    auto s = ProbeServer::start({{}, {}, {80}, name}, &ns(name));
    ASSERT_TRUE(s) << s.error().message;
    servers.push_back(std::make_unique<ProbeServer>(std::move(*s)));
  }
  for (const char* to : {"demo/httpbin-v1-0", "demo/httpbin-v2-0"}) {
    EXPECT_EQ(status("demo/nginx-web-0", to, 80, "GET", "/get"), 200) << to;
    EXPECT_EQ(status("demo/nginx-web-1", to, 80, "GET", "/headers"), 200) << to;
    EXPECT_EQ(status("demo/nginx-web-0", to, 80, "POST", "/post"), 403) << to;
    EXPECT_EQ(status("demo/nginx-web-0", to, 80, "PUT", "/put"), 403) << to;
    EXPECT_EQ(status("demo/nginx-web-0", to, 80, "HEAD", "/get"), 403) << to;
  }
  EXPECT_EQ(servers[0]->http_requests() + servers[1]->http_requests(), 4u) << "only the GETs reached httpbin";
  // redis -> httpbin is dropped at L4.
  EXPECT_EQ(status("demo/redis-0", "demo/httpbin-v1-0", 80, "GET", "/get"), 0);
}

// Two nodes: an egress HTTP rule judged by the client's from-pod program (the 403 goes back out
// of the same interface, the RST crosses the underlay), and an ingress one judged on the other
// node (the 403 crosses the underlay back).
TEST_F(L7Lab, TwoNodesEgressAndIngressRules) {
  up(kSrc + "/tests/runtime/inputs/l7-twonode", "l7two");
  KeepAliveServer egress_target(ns("default/api"), 80);
  KeepAliveServer ingress_target(ns("default/api"), 81);
  const Ipv4Addr api = pod("default/api").pod.ip;
  EXPECT_EQ(status("default/web", "default/api", 80, "GET", "/anything"), 200);
  EXPECT_EQ(status("default/web", "default/api", 80, "POST", "/anything"), 403);
  EXPECT_EQ(status("default/client", "default/api", 81, "GET", "/public/a"), 200);
  EXPECT_EQ(status("default/client", "default/api", 81, "GET", "/private"), 403);
  EXPECT_EQ(status("default/client", "default/api", 81, "GET", "/public/../private"), 403);
  for (auto [from, port] : {std::pair<const char*, uint16_t>{"default/web", 80}, {"default/client", 81}}) {
    Client c(ns(from), api, port);
    ASSERT_TRUE(c.connected()) << from;
    c.send(port == 80 ? "GET /x HTTP/1.1\r\n\r\n" : "GET /public/x HTTP/1.1\r\n\r\n");
    EXPECT_TRUE(is_200(c.response())) << from;
    c.send("DELETE /public/x HTTP/1.1\r\n\r\n");
    EXPECT_TRUE(is_403(c.response())) << from;
    EXPECT_TRUE(c.at_eof()) << from;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(egress_target.open_connections() + ingress_target.open_connections(), 0u) << "servers were reset";
  for (auto* srv : {&egress_target, &ingress_target})
    for (const auto& line : srv->log()) EXPECT_EQ(line.rfind("GET ", 0), 0u) << line;
  EXPECT_EQ(egress_target.log().size(), 2u);
  EXPECT_EQ(ingress_target.log().size(), 2u);
}

}  // namespace
}  // namespace polc::runtime
