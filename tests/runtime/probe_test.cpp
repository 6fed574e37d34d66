// The traffic tool: servers and clients, run on the loopback of a namespace the test creates.
#include "polc/runtime/probe.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include "polc/runtime/handles.h"

namespace polc::runtime {
namespace {

constexpr Ipv4Addr kLoopback = (127u << 24) | 1u;

class Probe : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ns = Netns::create("pl-rtp" + std::to_string(::getpid()) + "-" +
                            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ASSERT_TRUE(ns) << ns.error().message;
    ns_ = std::move(*ns);
    opt_.netns = &ns_;
    opt_.timeout_ms = 1000;
  }
  Netns ns_;
  ProbeOptions opt_;
};

TEST_F(Probe, TcpEchoAndGreeting) {
  auto plain = ProbeServer::start({{7000}, {}, {}, ""}, &ns_);
  ASSERT_TRUE(plain) << plain.error().message;
  auto named = ProbeServer::start({{7001}, {}, {}, "web-0"}, &ns_);
  ASSERT_TRUE(named) << named.error().message;
  ProbeOptions o = opt_;
  o.send = "hello";
  o.read_reply = true;
  auto r = tcp_connect({kLoopback, 7000}, o);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.reply, "hello");
  o.send.clear();
  r = tcp_connect({kLoopback, 7001}, o);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.reply, "web-0\n");
  EXPECT_EQ(plain->tcp_accepted(), 1u);
  EXPECT_EQ(named->tcp_accepted(), 1u);
}

TEST_F(Probe, TcpRefusedAndUdpRefused) {
  auto r = tcp_connect({kLoopback, 7999}, opt_);
  EXPECT_EQ(r.outcome, ProbeOutcome::Refused);
  EXPECT_FALSE(r.ok());
  auto u = udp_exchange({kLoopback, 7999}, "x", opt_);
  EXPECT_EQ(u.outcome, ProbeOutcome::Refused);
}

TEST_F(Probe, TimesOutWhenNothingAnswers) {
  // A UDP socket that never replies.
  auto silent = socket_in(ns_, AF_INET, SOCK_DGRAM);
  ASSERT_TRUE(silent);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(7100);
  ASSERT_EQ(::bind(silent->get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ProbeOptions o = opt_;
  o.timeout_ms = 150;
  auto u = udp_exchange({kLoopback, 7100}, "x", o);
  EXPECT_EQ(u.outcome, ProbeOutcome::Timeout);
  EXPECT_GE(u.millis, 140);
}

TEST_F(Probe, UdpEcho) {
  auto s = ProbeServer::start({{}, {5300}, {}, "dns"}, &ns_);
  ASSERT_TRUE(s) << s.error().message;
  auto u = udp_exchange({kLoopback, 5300}, "query", opt_);
  ASSERT_TRUE(u.ok()) << u.detail;
  EXPECT_EQ(u.reply, "dns\nquery");
  EXPECT_EQ(s->udp_received(), 1u);
}

TEST_F(Probe, HttpAnswersMethodAndPath) {
  auto s = ProbeServer::start({{}, {}, {8080}, "api-1"}, &ns_);
  ASSERT_TRUE(s) << s.error().message;
  HttpRequest req;
  req.method = "POST";
  req.path = "/v1/items?x=1";
  req.host = "api.local";
  req.headers = {{"X-Test", "1"}};
  auto r = http_request({kLoopback, 8080}, req, opt_);
  ASSERT_TRUE(r.ok()) << r.detail;
  EXPECT_EQ(r.http_status, 200);
  EXPECT_EQ(r.reply, "api-1 POST /v1/items?x=1\n");
  bool served_by = false;
  for (const auto& [k, v] : r.http_headers)
    if (k == "x-served-by") served_by = v == "api-1";
  EXPECT_TRUE(served_by);
  EXPECT_EQ(s->http_requests(), 1u);
}

TEST_F(Probe, ManyConcurrentClients) {
  auto s = ProbeServer::start({{7000}, {7000}, {8080}, ""}, &ns_);
  ASSERT_TRUE(s);
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        ProbeOptions o = opt_;
        o.send = "x";
        o.read_reply = true;
        if (tcp_connect({kLoopback, 7000}, o).ok()) ++ok;
        if (udp_exchange({kLoopback, 7000}, "y", opt_).ok()) ++ok;
        if (http_request({kLoopback, 8080}, {}, opt_).ok()) ++ok;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8 * 25 * 3);
}

TEST_F(Probe, BindingATakenPortFails) {
  auto a = ProbeServer::start({{7000}, {}, {}, ""}, &ns_);
  ASSERT_TRUE(a);
  auto b = ProbeServer::start({{7000}, {}, {}, ""}, &ns_);
  ASSERT_FALSE(b);
  EXPECT_NE(b.error().message.find("TCP port 7000"), std::string::npos) << b.error().message;
}

}  // namespace
}  // namespace polc::runtime
