// The runtime's plain value types: addresses, MACs, lab names, lab state round trip.
#include "polc/runtime/net.h"

#include <gtest/gtest.h>

#include "polc/runtime/lab.h"

namespace polc::runtime {
namespace {

TEST(RuntimeNet, ParsesAndPrintsIpv4) {
  EXPECT_EQ(parse_ipv4("10.10.1.2"), (10u << 24) | (10u << 16) | (1u << 8) | 2u);
  EXPECT_EQ(ipv4_str((192u << 24) | (168u << 16) | (65u << 8) | 2u), "192.168.65.2");
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.1.1.1", "1.2.3.x", "1..2.3"})
    EXPECT_FALSE(parse_ipv4(bad)) << bad;
  auto ep = parse_endpoint("10.0.0.1:8080");
  ASSERT_TRUE(ep);
  EXPECT_EQ(ep->port, 8080);
  EXPECT_FALSE(parse_endpoint("10.0.0.1"));
  EXPECT_FALSE(parse_endpoint("10.0.0.1:70000"));
}

TEST(RuntimeNet, ParsesAndPrintsMac) {
  auto m = Mac::parse("0a:58:0a:0a:01:02");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->str(), "0a:58:0a:0a:01:02");
  EXPECT_FALSE(Mac::parse("0a:58:0a:0a:01"));
  EXPECT_FALSE(Mac::parse("0a-58-0a-0a-01-02"));
}

TEST(RuntimeLabNames, LabNamesCannotOverlapPrefixes) {
  EXPECT_TRUE(validate_lab_name("demo1").ok());
  for (const char* bad : {"", "a-b", "Demo", "a/b", "abcdefghijklmnopq", "a.b"})
    EXPECT_FALSE(validate_lab_name(bad).ok()) << bad;
  EXPECT_EQ(lab_prefix("demo"), "pl-demo-");
}

TEST(RuntimeLabState, JsonRoundTrip) {
  LabState s;
  s.spec.name = "x";
  s.spec.source = "samples/demo";
  s.underlay_netns = "pl-x-ul";
  s.underlay_bridge = "pl-br";
  s.nodes.push_back({{"node-1", *parse_ipv4("192.168.65.2")}, "pl-x-n-node-1", "pl-ul"});
  s.spec.nodes.push_back(s.nodes.back().node);
  LabPodState p;
  p.pod = {"default", "web-0", "web", 0, *parse_ipv4("10.10.0.5"), "node-1", false, {{"http", 80, 6}}};
  p.netns = "pl-x-p-default.web-0";
  p.node_netns = "pl-x-n-node-1";
  p.host_if = "pl12345678";
  p.pod_if = "eth0";
  p.pod_mac = *Mac::parse("0a:58:0a:0a:00:05");
  s.pods.push_back(p);
  s.spec.pods.push_back(p.pod);
  LabService svc{"default", "web", "ClusterIP", *parse_ipv4("10.96.0.20"), {}};
  svc.ports.push_back({"http", 6, 80, 30080, {{"default/web-0", p.pod.ip, 80, 800}}});
  s.spec.services.push_back(svc);

  std::string text = lab_state_to_json(s);
  auto back = lab_state_from_json(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(lab_state_to_json(*back), text);
  EXPECT_EQ(back->pods[0].pod.ports[0].name, "http");
  EXPECT_EQ(back->spec.services[0].ports[0].backends[0].weight, 800u);

  auto bad = lab_state_from_json("{\"version\": 1}");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("malformed lab state"), std::string::npos);
}

}  // namespace
}  // namespace polc::runtime
