#include "polc/ir/labels.h"

#include <gtest/gtest.h>

namespace polc::ir {
namespace {

TEST(LabelSelector, Operators) {
  Labels l{{"app", "web"}, {"tier", "front"}};
  EXPECT_TRUE((Requirement{"app", SelectorOp::In, {"api", "web"}}.matches(l)));
  EXPECT_FALSE((Requirement{"app", SelectorOp::In, {"api"}}.matches(l)));
  EXPECT_TRUE((Requirement{"app", SelectorOp::NotIn, {"api"}}.matches(l)));
  // NotIn matches when the key is absent (Kubernetes semantics).
  EXPECT_TRUE((Requirement{"env", SelectorOp::NotIn, {"prod"}}.matches(l)));
  EXPECT_TRUE((Requirement{"tier", SelectorOp::Exists, {}}.matches(l)));
  EXPECT_FALSE((Requirement{"env", SelectorOp::Exists, {}}.matches(l)));
  EXPECT_TRUE((Requirement{"env", SelectorOp::DoesNotExist, {}}.matches(l)));
}

TEST(LabelSelector, EmptyMatchesAllNoneMatchesNothing) {
  EXPECT_TRUE(LabelSelector{}.matches({}));
  EXPECT_FALSE(LabelSelector::nothing().matches({}));
  LabelSelector s = LabelSelector::equals("app", "web");
  EXPECT_TRUE(s.matches({{"app", "web"}}));
  EXPECT_FALSE(s.matches({{"app", "db"}}));
  EXPECT_EQ(s.str(), "app=web");
}

}  // namespace
}  // namespace polc::ir
