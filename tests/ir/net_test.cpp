#include "polc/ir/net.h"

#include <gtest/gtest.h>

namespace polc::ir {
namespace {

TEST(Ipv4, ParsesAndPrints) {
  auto ip = Ipv4::parse("10.1.2.3");
  ASSERT_TRUE(ip);
  EXPECT_EQ(ip->value, (10u << 24) | (1u << 16) | (2u << 8) | 3u);
  EXPECT_EQ(ip->str(), "10.1.2.3");
  EXPECT_FALSE(Ipv4::parse("10.1.2"));
  EXPECT_FALSE(Ipv4::parse("10.1.2.256"));
  EXPECT_FALSE(Ipv4::parse("10.01.2.3"));
  EXPECT_FALSE(Ipv4::parse(" 10.1.2.3"));
  EXPECT_FALSE(Ipv4::parse("10.1.2.3.4"));
}

TEST(Cidr, RejectsBadPrefixAndHostBits) {
  Cidr::ParseError err{};
  EXPECT_FALSE(Cidr::parse("10.0.0.0/33", &err));
  EXPECT_EQ(err, Cidr::ParseError::PrefixRange);
  EXPECT_FALSE(Cidr::parse("10.0.0.1/8", &err));
  EXPECT_EQ(err, Cidr::ParseError::HostBits);
  EXPECT_FALSE(Cidr::parse("10.0.0.1", &err));
  EXPECT_EQ(err, Cidr::ParseError::Syntax);
  auto bare = Cidr::parse("10.0.0.1", &err, true);
  ASSERT_TRUE(bare);
  EXPECT_EQ(bare->len, 32);
}

TEST(Cidr, Containment) {
  auto c = *Cidr::parse("10.1.0.0/16");
  EXPECT_TRUE(c.contains(*Ipv4::parse("10.1.255.255")));
  EXPECT_FALSE(c.contains(*Ipv4::parse("10.2.0.0")));
  EXPECT_TRUE(c.contains(*Cidr::parse("10.1.2.0/24")));
  EXPECT_FALSE(c.contains(*Cidr::parse("10.0.0.0/8")));
  auto all = *Cidr::parse("0.0.0.0/0");
  EXPECT_TRUE(all.contains(*Ipv4::parse("255.255.255.255")));
  EXPECT_EQ(all.last(), 0xffffffffu);
}

TEST(ProtoSet, Membership) {
  EXPECT_TRUE(ProtoSet::with_ports().contains(6));
  EXPECT_TRUE(ProtoSet::with_ports().contains(132));
  EXPECT_FALSE(ProtoSet::with_ports().contains(1));
  EXPECT_TRUE(ProtoSet::all().contains(47));
  EXPECT_FALSE(ProtoSet(ProtoSet::kTcp).contains(17));
  EXPECT_EQ(ProtoSet::all().str(), "ANY");
}

}  // namespace
}  // namespace polc::ir
