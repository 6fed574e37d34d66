// HTTP enforcement in the compiled datapath (issue 8), in the real kernel with BPF_PROG_TEST_RUN:
// requests on crafted TCP segments are allowed or refused as the reference evaluator says; the
// refusal is an HTTP 403 to the client and a RST to the server; every request of a keep-alive
// connection is judged; and the evasion suite (split request line, pipelining, path, method and
// header tricks, HTTP/2 preface, retransmissions with other content) lets nothing through.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <gtest/gtest.h>
#include <sched.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "datapath_harness.h"
#include "polc/backend_bpf/backend.h"
#include "polc/backend_bpf/build_l7_maps.h"
#include "polc/ir/policy_tables.h"
#include "test_util.h"

namespace polc::backend_bpf::testing {
namespace {

namespace fs = std::filesystem;
constexpr int kPass = 0;
constexpr int kDrop = 2;

/// The responses the datapath sends are clones redirected to the packet's interface. Under
/// BPF_PROG_TEST_RUN that is the loopback device of the test's network namespace: a private
/// one, with lo down, so that nothing is ever transmitted.
class PrivateNetns : public ::testing::Environment {
 public:
  void SetUp() override { ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << std::strerror(errno); }
};
const auto* const kNetns = ::testing::AddGlobalTestEnvironment(new PrivateNetns);

uint64_t l7_stat(Datapath& dp, uint32_t reason) {
  int fd = dp.map_fd("polc_l7_stats");
  std::vector<polc_counter> v(static_cast<size_t>(libbpf_num_possible_cpus()));
  if (bpf_map_lookup_elem(fd, &reason, v.data()) != 0) return 0;
  uint64_t n = 0;
  for (const auto& c : v) n += c.packets;
  return n;
}

uint16_t get16(const std::vector<uint8_t>& b, size_t off) {
  return static_cast<uint16_t>((b[off] << 8) | b[off + 1]);
}
uint32_t get32(const std::vector<uint8_t>& b, size_t off) {
  return (uint32_t(get16(b, off)) << 16) | get16(b, off + 2);
}
/// The ones' complement sum over [off, off + len) plus `seed`, folded.
uint16_t csum(const std::vector<uint8_t>& b, size_t off, size_t len, uint32_t seed = 0) {
  uint32_t sum = seed;
  for (size_t i = 0; i + 1 < len; i += 2) sum += get16(b, off + i);
  if (len & 1) sum += uint32_t(b[off + len - 1]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

/// One connection of a client to a server, segment by segment, through the server's to-pod
/// program (or the client's from-pod program for egress rules).
class Conn {
 public:
  Conn(Datapath* dp, const char* program, uint32_t client, uint32_t server, uint16_t sport, uint16_t dport)
      : dp_(dp), program_(program) {
    pkt_.saddr = client;
    pkt_.daddr = server;
    pkt_.sport = sport;
    pkt_.dport = dport;
  }
  int open() {
    pkt_.tcp_flags = 0x02;
    pkt_.seq = isn_;
    pkt_.payload.clear();
    return dp_->run(program_, build_packet(pkt_));
  }
  /// Sends `data` at the next sequence number (advancing it) or at `seq` when given.
  int send(const std::string& data, std::optional<uint32_t> seq = std::nullopt) {
    pkt_.tcp_flags = 0x18;
    pkt_.seq = seq.value_or(next_);
    pkt_.ack = 5555;
    pkt_.payload.assign(data.begin(), data.end());
    if (!seq) next_ += static_cast<uint32_t>(data.size());
    out_.clear();
    return dp_->run(program_, build_packet(pkt_), 1, nullptr, &out_);
  }
  [[nodiscard]] uint32_t next() const { return next_; }
  [[nodiscard]] const std::vector<uint8_t>& out() const { return out_; }
  [[nodiscard]] const Packet& packet() const { return pkt_; }

 private:
  Datapath* dp_;
  std::string program_;
  Packet pkt_;
  uint32_t isn_ = 0xfffffff0u;  // sequence numbers wrap during the connection
  uint32_t next_ = isn_ + 1;
  std::vector<uint8_t> out_;
};

// ---------------------------------------------------------------------------------------------
// samples/l7-api: api accepts client on 8080 for GET /api/v1/.* and POST /api/v1/users.

class L7Api : public ::testing::Test {
 protected:
  void SetUp() override {
    m_ = load_dir(fs::path(POLC_SOURCE_DIR) / "samples" / "l7-api");
    ir::DiagnosticEngine diags;
    nodes_ = compile_and_load(m_, diags);
    for (const auto& d : diags.diagnostics()) EXPECT_NE(d.severity, ir::Severity::Warning) << d.message;
    ASSERT_EQ(nodes_.size(), 1u);
    dp_ = nodes_[0].dp.get();
    client_ = ip("default", "client");
    api_ = ip("default", "api");
    other_ = ip("default", "other");
  }
  uint32_t ip(const char* ns, const char* name) { return m_.endpoint(*m_.find_endpoint(ns, name)).ip.value; }
  Conn conn() { return Conn(dp_, "polc_to_pod", client_, api_, sport_++, 8080); }
  /// A request on a fresh connection: the verdict of its segment.
  int request(const std::string& bytes) {
    Conn c = conn();
    EXPECT_EQ(c.open(), kPass);
    return c.send(bytes);
  }
  static std::string get(const std::string& path, const std::string& method = "GET") {
    return method + " " + path + " HTTP/1.1\r\nHost: api:8080\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n";
  }

  ir::Model m_;
  std::vector<LoadedNode> nodes_;
  Datapath* dp_ = nullptr;
  uint32_t client_ = 0, api_ = 0, other_ = 0;
  uint16_t sport_ = 42000;
};

TEST_F(L7Api, ChaptersFourChecks) {
  EXPECT_EQ(request(get("/api/v1/users")), kPass);
  EXPECT_EQ(request(get("/api/v1/users", "POST")), kPass);
  EXPECT_EQ(request(get("/api/v1/users/1", "DELETE")), kDrop);
  EXPECT_EQ(request(get("/admin")), kDrop);
  EXPECT_EQ(l7_stat(*dp_, POLC_L7_ALLOWED), 2u);
  EXPECT_EQ(l7_stat(*dp_, POLC_L7_DENIED), 2u);
  EXPECT_EQ(dp_->stat(POLC_REASON_L7_DENIED), 2u);
}

TEST_F(L7Api, RefusalIsA403ToTheClientAndTheConnectionIsDead) {
  Conn c = conn();
  ASSERT_EQ(c.open(), kPass);
  const std::string req = get("/admin");
  const uint32_t seq = c.next();
  ASSERT_EQ(c.send(req), kDrop);
  EXPECT_EQ(l7_stat(*dp_, POLC_L7_RESPONSES), 1u);
  // The packet left in the program's hands is the 403 (the RST to the server went out first).
  const auto& o = c.out();
  ASSERT_EQ(o.size(), 14u + 20 + 20 + 120);
  EXPECT_EQ(get16(o, 12), 0x0800);
  EXPECT_EQ(o[0], 0x12) << "destination MAC is the request's source MAC";
  EXPECT_EQ(get32(o, 14 + 12), api_);
  EXPECT_EQ(get32(o, 14 + 16), client_);
  EXPECT_EQ(get16(o, 14 + 2), 160);
  EXPECT_EQ(csum(o, 14, 20), 0xffff) << "IPv4 header checksum";
  const size_t th = 34;
  EXPECT_EQ(get16(o, th), 8080);
  EXPECT_EQ(get16(o, th + 2), c.packet().sport);
  EXPECT_EQ(get32(o, th + 4), 5555u) << "seq = the request's ack";
  EXPECT_EQ(get32(o, th + 8), static_cast<uint32_t>(seq + req.size())) << "ack covers the request";
  EXPECT_EQ(o[th + 13], 0x19) << "FIN|PSH|ACK";
  uint32_t pseudo = (api_ >> 16) + (api_ & 0xffff) + (client_ >> 16) + (client_ & 0xffff) + 6 + 140;
  EXPECT_EQ(csum(o, th, 140, pseudo), 0xffff) << "TCP checksum";
  std::string body(o.begin() + th + 20, o.end());
  EXPECT_EQ(body.rfind("HTTP/1.1 403 Forbidden\r\n", 0), 0u) << body;
  EXPECT_NE(body.find("content-length: 15\r\n"), std::string::npos);
  EXPECT_EQ(body.substr(body.size() - 15), "Access denied\r\n");
  // Everything the client sends later on this connection is dropped, allowed or not.
  EXPECT_EQ(c.send(get("/api/v1/users")), kDrop);
  EXPECT_EQ(l7_stat(*dp_, POLC_L7_AFTER_DENY), 1u);
}

TEST_F(L7Api, EveryRequestOfAKeepAliveConnectionIsJudged) {
  Conn c = conn();
  ASSERT_EQ(c.open(), kPass);
  EXPECT_EQ(c.send(get("/api/v1/users")), kPass);
  EXPECT_EQ(c.send(get("/api/v1/users/7")), kPass);
  EXPECT_EQ(c.send(get("/api/v1/users", "POST")), kPass);
  EXPECT_EQ(c.send(get("/api/v1/users/1", "DELETE")), kDrop) << "the fourth request";
  EXPECT_EQ(l7_stat(*dp_, POLC_L7_ALLOWED), 3u);
}

TEST_F(L7Api, BodiesAreFramedByContentLength) {
  Conn c = conn();
  ASSERT_EQ(c.open(), kPass);
  const std::string head = "POST /api/v1/users HTTP/1.1\r\nHost: api\r\nContent-Length: 10\r\n\r\n";
  EXPECT_EQ(c.send(head + "0123"), kPass);
  EXPECT_EQ(c.send("45678"), kPass) << "body bytes pass";
  const uint32_t last = c.next();
  EXPECT_EQ(c.send("9"), kPass);
  // The body may look like anything: it is never parsed as a request.
  Conn c2 = conn();
  ASSERT_EQ(c2.open(), kPass);
  EXPECT_EQ(c2.send("POST /api/v1/users HTTP/1.1\r\nContent-Length: 28\r\n\r\n"), kPass);
  EXPECT_EQ(c2.send("DELETE /admin HTTP/1.1\r\n\r\n\r\n"), kPass);
  EXPECT_EQ(c2.send(get("/admin")), kDrop) << "after the body: the next request";
  // A retransmitted body segment passes again.
  EXPECT_EQ(c.send("9", last), kPass);
  EXPECT_EQ(c.send(get("/api/v1/users")), kPass) << "the request after the body";
}

TEST_F(L7Api, EvasionSplitRequestLine) {
  Conn c = conn();
  ASSERT_EQ(c.open(), kPass);
  EXPECT_EQ(c.send("GET /api/v1/us"), kDrop);
  EXPECT_EQ(c.send("ers HTTP/1.1\r\n\r\n"), kDrop);
  EXPECT_EQ(l7_stat(*dp_, POLC_L7_INCOMPLETE), 1u);
  // Headers without the empty line, and a request head longer than the parser reads.
  EXPECT_EQ(request("GET /api/v1/users HTTP/1.1\r\nHost: api\r\n"), kDrop);
  EXPECT_EQ(request("GET /api/v1/users HTTP/1.1\r\nX-Pad: " + std::string(2100, 'a') + "\r\n\r\n"), kDrop);
  EXPECT_EQ(l7_stat(*dp_, POLC_L7_INCOMPLETE), 3u);
}

TEST_F(L7Api, EvasionPipelining) {
  EXPECT_EQ(request(get("/api/v1/users") + get("/admin")), kDrop);
  EXPECT_EQ(request(get("/api/v1/users") + get("/api/v1/users")), kDrop) << "even two allowed requests";
  EXPECT_EQ(request("POST /api/v1/users HTTP/1.1\r\nContent-Length: 2\r\n\r\nab" + get("/admin")), kDrop);
  // The body segment running into the next request.
  Conn c = conn();
  ASSERT_EQ(c.open(), kPass);
  EXPECT_EQ(c.send("POST /api/v1/users HTTP/1.1\r\nContent-Length: 4\r\n\r\nab"), kPass);
  EXPECT_EQ(c.send("cd" + get("/admin")), kDrop);
  EXPECT_EQ(l7_stat(*dp_, POLC_L7_PIPELINED), 4u);
}

TEST_F(L7Api, EvasionPathTricks) {
  for (const char* path : {"/api/v1/../admin",
                           "/api/v1/./users",
                           "/api/v1//users",
                           "/api/v1/users/..",
                           "/api/v1/%2e%2e/admin",
                           "/api/v1/%2E%2E/admin",
                           "/api/v1/%2fadmin",
                           "/api/v1/%2F..%2Fadmin",
                           "/api/v1/.%2e/admin",
                           "/api/v1/%5cadmin",
                           "/api/v1/%61dmin",
                           "/api/v1/%25",
                           "/api/v1/%zz",
                           "/api/v1/%2",
                           "/api/v1/users#x",
                           "/api/v1\\users",
                           "http://api/api/v1/users",
                           "*",
                           "api/v1/users",
                           "/api/v1/\x01",
                           "/api/v1/\xc3\xa9"}) {
    EXPECT_EQ(request(get(path)), kDrop) << path;
  }
  EXPECT_GE(l7_stat(*dp_, POLC_L7_BAD_PATH), 20u);
  // What normalization does not touch: the query, escapes of reserved characters, dots in names.
  for (const char* path :
       {"/api/v1/users?next=../../admin", "/api/v1/a%20b", "/api/v1/users.json", "/api/v1/...", "/api/v1/users?x=%2f"})
    EXPECT_EQ(request(get(path)), kPass) << path;
}

TEST_F(L7Api, EvasionMethodTricks) {
  for (const std::string& r :
       {std::string("get /api/v1/users HTTP/1.1\r\n\r\n"), std::string("Get /api/v1/users HTTP/1.1\r\n\r\n"),
        std::string(" GET /api/v1/users HTTP/1.1\r\n\r\n"), std::string("GET\t/api/v1/users HTTP/1.1\r\n\r\n"),
        std::string("G-ET /api/v1/users HTTP/1.1\r\n\r\n"), std::string("\r\nGET /api/v1/users HTTP/1.1\r\n\r\n")})
    EXPECT_EQ(request(r), kDrop) << r;
  EXPECT_EQ(l7_stat(*dp_, POLC_L7_BAD_METHOD), 6u);
  EXPECT_EQ(request("GET  /api/v1/users HTTP/1.1\r\n\r\n"), kDrop) << "two spaces";
  EXPECT_EQ(request("DELETE /api/v1/users HTTP/1.1\r\n\r\n"), kDrop);
  EXPECT_EQ(request("GETX /api/v1/users HTTP/1.1\r\n\r\n"), kDrop);
}

TEST_F(L7Api, EvasionVersionAndHeaderTricks) {
  for (const std::string& r : {
           std::string("GET /api/v1/users HTTP/2.0\r\n\r\n"),
           std::string("GET /api/v1/users\r\n\r\n"),  // HTTP/0.9
           std::string("GET /api/v1/users HTTP/1.1\n\n"),
           std::string("GET /api/v1/users HTTP/1.1\r\nHost: a\n\r\n"),
           std::string("GET /api/v1/users HTTP/1.1\r\nHost : a\r\n\r\n"),
           std::string("GET /api/v1/users HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n"),  // obs-fold
           std::string("GET /api/v1/users HTTP/1.1\r\nX-A: b \r\n\r\n"),
           std::string("GET /api/v1/users HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
           std::string("GET /api/v1/users HTTP/1.1\r\ntransfer-encoding: identity\r\n\r\n"),
           std::string("GET /api/v1/users HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"),
           std::string("GET /api/v1/users HTTP/1.1\r\nContent-Length: +1\r\n\r\nx"),
           std::string("GET /api/v1/users HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n"),
           std::string("GET /api/v1/users HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
           std::string("GET /api/v1/users HTTP/1.1\r\nX-A: \x01\r\n\r\n"),
       })
    EXPECT_EQ(request(r), kDrop) << r;
  EXPECT_EQ(request("GET /api/v1/users HTTP/1.0\r\nconnection: keep-alive\r\n\r\n"), kPass);
  EXPECT_EQ(request("GET /api/v1/users HTTP/1.1\r\nX-Empty-Ows:\t v\r\n\r\n"), kPass);
}

TEST_F(L7Api, EvasionHttp2Preface) {
  EXPECT_EQ(request(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + std::string(9, '\0')), kDrop);
  EXPECT_EQ(l7_stat(*dp_, POLC_L7_HTTP2), 1u);
  // h2c upgrade: the request itself is HTTP/1.1 and judged as such; what follows a 101 is not
  // HTTP/1 and is refused at the next request boundary.
  Conn c = conn();
  ASSERT_EQ(c.open(), kPass);
  EXPECT_EQ(c.send("GET /api/v1/users HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n"), kPass);
  EXPECT_EQ(c.send(std::string("\0\0\x12\x04\0\0\0\0\0", 9)), kDrop);
}

TEST_F(L7Api, EvasionRetransmissionWithOtherContent) {
  Conn c = conn();
  ASSERT_EQ(c.open(), kPass);
  const uint32_t start = c.next();
  const std::string ok = get("/api/v1/users");
  ASSERT_EQ(c.send(ok), kPass);
  EXPECT_EQ(c.send(ok, start), kPass) << "a plain retransmission";
  // Same sequence number, same length, other request: judged again and refused.
  std::string evil = get("/api/v1/xxxxx", "GET");
  evil.replace(0, 3, "PUT");
  ASSERT_EQ(evil.size(), ok.size());
  EXPECT_EQ(c.send(evil, start), kDrop);
  Conn c2 = conn();
  ASSERT_EQ(c2.open(), kPass);
  const uint32_t s2 = c2.next();
  ASSERT_EQ(c2.send(ok), kPass);
  // Starting inside the judged header block, or before the request: dropped, not judged.
  EXPECT_EQ(c2.send("DELETE /x HTTP/1.1\r\n\r\n", s2 + 4), kDrop);
  EXPECT_EQ(c2.send(ok, s2 - 10), kDrop);
  EXPECT_EQ(l7_stat(*dp_, POLC_L7_OUT_OF_WINDOW), 2u);
  EXPECT_EQ(c2.send(ok), kPass) << "the connection still works";
}

TEST_F(L7Api, OutOfOrderDataIsDroppedUntilItsTurn) {
  Conn c = conn();
  ASSERT_EQ(c.open(), kPass);
  const uint32_t s = c.next();
  const std::string first = get("/api/v1/users");
  EXPECT_EQ(c.send(get("/admin"), s + static_cast<uint32_t>(first.size())), kDrop) << "ahead of the boundary";
  EXPECT_EQ(l7_stat(*dp_, POLC_L7_OUT_OF_WINDOW), 1u);
  EXPECT_EQ(c.send(first), kPass);
  EXPECT_EQ(c.send(get("/admin")), kDrop) << "in its turn, judged";
}

TEST_F(L7Api, DataOnTheSynIsJudged) {
  Packet syn;
  syn.saddr = client_;
  syn.daddr = api_;
  syn.sport = 43999;
  syn.dport = 8080;
  syn.tcp_flags = 0x02;
  std::string r = get("/admin");
  syn.payload.assign(r.begin(), r.end());
  EXPECT_EQ(dp_->run("polc_to_pod", build_packet(syn)), kDrop);
  syn.sport = 43998;
  r = get("/api/v1/users");
  syn.payload.assign(r.begin(), r.end());
  EXPECT_EQ(dp_->run("polc_to_pod", build_packet(syn)), kPass);
}

TEST_F(L7Api, OnlyThePolicedPortAndPeerAreFiltered) {
  // other -> api:8080 is denied at L4; api -> client is not policed at all.
  Conn denied(dp_, "polc_to_pod", other_, api_, 44000, 8080);
  EXPECT_EQ(denied.open(), kDrop);
  Conn unpoliced(dp_, "polc_from_pod", api_, client_, 44001, 8080);
  EXPECT_EQ(unpoliced.open(), kPass);
  EXPECT_EQ(unpoliced.send("anything at all\r\n"), kPass);
  EXPECT_EQ(l7_stat(*dp_, POLC_L7_ALLOWED) + l7_stat(*dp_, POLC_L7_DENIED), 0u);
}

TEST_F(L7Api, NewEpochKeepsRequestBoundaries) {
  Conn c = conn();
  ASSERT_EQ(c.open(), kPass);
  ASSERT_EQ(c.send("POST /api/v1/users HTTP/1.1\r\nContent-Length: 6\r\n\r\nab"), kPass);
  polc_config cfg = dp_->config();
  cfg.epoch += 1;
  dp_->set_config(cfg);
  EXPECT_EQ(c.send("cdef"), kPass) << "the body, re-judged at L4 under the new epoch";
  EXPECT_EQ(c.send(get("/admin")), kDrop);
}

// ---------------------------------------------------------------------------------------------
// Egress rules, hosts and headers (inline policy).

const char* kEgressYaml = R"(
apiVersion: v1
kind: Namespace
metadata: {name: default}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: default, labels: {app: web}}
spec: {containers: [{name: c, image: x}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: default, labels: {app: api}}
spec: {containers: [{name: c, image: x, ports: [{containerPort: 80}]}]}
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-out, namespace: default}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
    - toEndpoints: [{matchLabels: {app: api}}]
      toPorts:
        - ports: [{port: "80", protocol: TCP}]
          rules:
            http:
              - method: GET
                host: 'api\.example\.com(:80)?'
              - method: 'PUT|PATCH'
                path: '/items/[0-9]+'
                headers: ['X-Token: abc']
              - headers: ['X-Admin']
)";

TEST(L7Egress, HostsAndHeadersFromPod) {
  ir::Model m = load_yaml("egress.yaml", kEgressYaml);
  ir::DiagnosticEngine diags;
  auto nodes = compile_and_load(m, diags);
  Datapath* dp = nodes[0].dp.get();
  uint32_t web = m.endpoint(*m.find_endpoint("default", "web")).ip.value;
  uint32_t api = m.endpoint(*m.find_endpoint("default", "api")).ip.value;
  uint16_t sport = 45000;
  auto req = [&](const std::string& r) {
    Conn c(dp, "polc_from_pod", web, api, sport++, 80);
    EXPECT_EQ(c.open(), kPass);
    return c.send(r);
  };
  EXPECT_EQ(req("GET / HTTP/1.1\r\nHost: api.example.com\r\n\r\n"), kPass);
  EXPECT_EQ(req("GET / HTTP/1.1\r\nhost:api.example.com:80\r\n\r\n"), kPass);
  EXPECT_EQ(req("GET / HTTP/1.1\r\nHost: evil.com\r\n\r\n"), kDrop);
  EXPECT_EQ(req("GET / HTTP/1.1\r\n\r\n"), kDrop) << "no Host";
  EXPECT_EQ(req("PUT /items/12 HTTP/1.1\r\nx-token: abc\r\n\r\n"), kPass);
  EXPECT_EQ(req("PATCH /items/12 HTTP/1.1\r\nX-Other: 1\r\nX-TOKEN:   abc\r\n\r\n"), kPass);
  EXPECT_EQ(req("PUT /items/12 HTTP/1.1\r\nX-Token: abcd\r\n\r\n"), kDrop);
  EXPECT_EQ(req("PUT /items/12 HTTP/1.1\r\nX-Token-2: abc\r\n\r\n"), kDrop);
  EXPECT_EQ(req("PUT /items/x HTTP/1.1\r\nX-Token: abc\r\n\r\n"), kDrop);
  EXPECT_EQ(req("DELETE /anything HTTP/1.1\r\nX-Admin: yes\r\n\r\n"), kPass);
  EXPECT_EQ(req("DELETE /anything HTTP/1.1\r\nX-Admin-Not: yes\r\n\r\n"), kDrop);
  // Each allowed/denied request agrees with the evaluator.
  for (const auto& [r, want] : std::vector<std::pair<ir::HttpRequest, bool>>{
           {{"GET", "/", "api.example.com", {}}, true},
           {{"PUT", "/items/12", "", {{"X-Token", "abc"}}}, true},
           {{"PUT", "/items/12", "", {{"X-Token", "abcd"}}}, false},
       }) {
    ir::Probe p{ir::Address::pod(*m.find_endpoint("default", "web")),
                ir::Address::pod(*m.find_endpoint("default", "api")), 6, 80, r};
    EXPECT_EQ(ir::evaluate(m, p).allowed, want);
    auto bytes = http_request_bytes(r);
    ASSERT_TRUE(bytes);
    EXPECT_EQ(req(*bytes) == kPass, want) << *bytes;
  }
}

// ---------------------------------------------------------------------------------------------
// The samples with HTTP rules: every pod pair, every declared port, a grid of requests, against
// the reference evaluator.

TEST(L7Samples, RequestsAgreeWithEvaluator) {
  const std::vector<std::string> methods = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "get"};
  const std::vector<std::string> paths = {
      "/api/v1/users",          "/api/v1/users/1", "/api/v1/", "/api/v1", "/admin", "/get", "/post", "/",
      "/api/v1/users?limit=10", "/status/200"};
  size_t checked = 0;
  for (const char* sample : {"l7-api", "cilium-demo"}) {
    ir::Model m = load_dir(fs::path(POLC_SOURCE_DIR) / "samples" / sample);
    ir::DiagnosticEngine diags;
    auto nodes = compile_and_load(m, diags);
    std::set<uint16_t> ports = {80, 8080};
    for (const auto& e : m.endpoints)
      for (const auto& p : e.ports)
        if (p.proto == 6) ports.insert(p.port);
    size_t mismatches = 0;
    uint16_t sport = 20000;
    for (const auto& s : m.endpoints)
      for (const auto& d : m.endpoints)
        for (uint16_t port : ports)
          for (const auto& method : methods)
            for (const auto& path : paths) {
              ir::Probe p{ir::Address::pod(s.id), ir::Address::pod(d.id), 6, port,
                          ir::HttpRequest{method, path, "", {}}};
              bool want = ir::evaluate(m, p).allowed;
              auto bytes = http_request_bytes(*p.http);
              bool got = false;
              if (bytes) {
                got = run_http_probe(m, nodes, probe_packet(m, p, sport++), *bytes).allowed;
              } else {
                // Not classifiable (a lower-case method): refused, whatever the policy says,
                // unless the connection is not L7-policed at all.
                std::string raw = method + " " + path + " HTTP/1.1\r\n\r\n";
                got = run_http_probe(m, nodes, probe_packet(m, p, sport++), raw).allowed;
                ir::Probe l4 = p;
                l4.http.reset();
                const auto v = ir::evaluate(m, l4);
                const bool policed = v.egress.l7_restricted || v.ingress.l7_restricted;
                EXPECT_TRUE(!got || !policed) << sample << ": " << raw;
                if (!policed) {
                  EXPECT_EQ(got, v.allowed) << sample << ": " << raw;
                }
                got = want = false;  // counted below as agreement of the refusal
              }
              ++checked;
              if (got != want && ++mismatches <= 8)
                ADD_FAILURE() << sample << ": " << m.endpoint_name(s.id) << " -> " << m.endpoint_name(d.id) << ":"
                              << port << " " << method << " " << path << " evaluator=" << want << " datapath=" << got;
            }
    EXPECT_EQ(mismatches, 0u) << sample;
  }
  EXPECT_GT(checked, 5000u);
}

// The samples' expect.txt (the verdicts `polc query --batch` checks): every HTTP line between
// two addresses the datapath can be given gets the expected verdict from the datapath too.
TEST(L7Samples, ExpectedQueryVerdictsHoldInTheDatapath) {
  size_t checked = 0;
  for (const char* sample : {"l7-api", "cilium-demo"}) {
    const fs::path dir = fs::path(POLC_SOURCE_DIR) / "samples" / sample;
    ir::Model m = load_dir(dir);
    ir::DiagnosticEngine diags;
    auto nodes = compile_and_load(m, diags);
    std::ifstream in(dir / "expect.txt");
    std::string line;
    uint16_t sport = 30000;
    auto address = [&](const std::string& a) -> std::optional<ir::Address> {
      if (auto slash = a.find('/'); slash != std::string::npos)
        if (auto id = m.find_endpoint(a.substr(0, slash), a.substr(slash + 1))) return ir::Address::pod(*id);
      if (auto v4 = ir::Ipv4::parse(a)) return ir::Address::ip(*v4);
      return std::nullopt;  // "world": any external address; not needed here
    };
    while (std::getline(in, line)) {
      std::istringstream ls(line);
      std::string src, arrow, dst, method, path, verdict;
      if (line.empty() || line[0] == '#' || !(ls >> src >> arrow >> dst >> method >> path >> verdict)) continue;
      auto colon = dst.rfind(':'), slash = dst.rfind('/');
      if (dst.substr(slash + 1) != "tcp") continue;
      auto s = address(src), d = address(dst.substr(0, colon));
      if (!s || !d) continue;
      ir::Probe p{*s, *d, 6, static_cast<uint16_t>(std::stoi(dst.substr(colon + 1, slash - colon - 1))),
                  ir::HttpRequest{method, path, "", {}}};
      const bool want = verdict == "allow";
      EXPECT_EQ(ir::evaluate(m, p).allowed, want) << sample << ": " << line;
      auto bytes = http_request_bytes(*p.http);
      std::string raw = bytes ? *bytes : method + " " + path + " HTTP/1.1\r\n\r\n";
      EXPECT_EQ(run_http_probe(m, nodes, probe_packet(m, p, sport++), raw).allowed, want) << sample << ": " << line;
      ++checked;
    }
  }
  EXPECT_GE(checked, 30u);
}

}  // namespace
}  // namespace polc::backend_bpf::testing
