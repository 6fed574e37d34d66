#include <gtest/gtest.h>

#include "polc/frontend/regex_parser.h"

namespace polc::frontend {
namespace {

struct Case {
  const char* pattern;
  const char* input;
  bool match;
};

class RegexMatch : public ::testing::TestWithParam<Case> {};

TEST_P(RegexMatch, NfaAndDfaAgree) {
  const Case& c = GetParam();
  RegexError err;
  auto re = parse_regex(c.pattern, &err);
  ASSERT_TRUE(re) << c.pattern << ": " << err.message;
  EXPECT_EQ(re->full_match(c.input), c.match) << c.pattern << " on '" << c.input << "'";
  ir::Dfa d = ir::build_dfa(*re->root);
  ASSERT_GT(d.size(), 0u);
  EXPECT_EQ(d.accepts(c.input), c.match) << "DFA for " << c.pattern << " on '" << c.input << "'";
}

INSTANTIATE_TEST_SUITE_P(
    Patterns, RegexMatch,
    ::testing::Values(Case{"GET", "GET", true}, Case{"GET", "GETX", false}, Case{"GET", "get", false},
                      Case{"GET|POST", "POST", true}, Case{"/api/v1/.*", "/api/v1/users", true},
                      Case{"/api/v1/.*", "/api/v1/", true}, Case{"/api/v1/.*", "/api/v2/users", false},
                      // Whole-value match: a prefix match is not enough.
                      Case{"/api", "/api/v1", false}, Case{"/api/v1/users", "/api/v1/users", true},
                      Case{"^/admin$", "/admin", true}, Case{"[a-z]+", "abc", true}, Case{"[a-z]+", "", false},
                      Case{"[^/]+", "a/b", false}, Case{"\\d{3}", "123", true}, Case{"\\d{3}", "12", false},
                      Case{"a{2,}", "aaaa", true}, Case{"a{2,3}", "aaaa", false}, Case{"(ab)*c", "ababc", true},
                      Case{"(?:ab)+", "", false}, Case{"x?y", "y", true}, Case{"\\.", ".", true},
                      Case{"\\.", "a", false}, Case{"[[:digit:]]+", "42", true}, Case{"a.c", "a\nc", false},
                      Case{"", "", true}, Case{"", "a", false}, Case{"[a-]", "-", true}, Case{"\\x41", "A", true}));

TEST(RegexParse, Errors) {
  for (const char* bad : {"*", "(", "a)", "[a", "a{3,2}", "a^b", "\\q", "a{99999}", "a{1001}", "(a{1000}){2}",
                          "((a{1000}){1000}){1000}", "(a{2,}){501}"}) {
    RegexError err;
    EXPECT_FALSE(parse_regex(bad, &err)) << bad;
    EXPECT_FALSE(err.message.empty()) << bad;
  }
}

TEST(RegexParse, RepetitionLimitsFollowRe2) {
  // RE2 allows nested counts whose product stays within 1000.
  for (const char* ok : {"a{1000}", "(a{10}){100}", "(a{2}){500}", "(a*){1000}", "((ab)+){1000}"}) {
    RegexError err;
    EXPECT_TRUE(parse_regex(ok, &err)) << ok << ": " << err.message;
  }
  RegexError err;
  EXPECT_FALSE(parse_regex("(a{3}){500}", &err));
  EXPECT_NE(err.message.find("nested repetition"), std::string::npos) << err.message;
  // Many large repetitions side by side are bounded too.
  std::string wide;
  for (int i = 0; i < 101; ++i) wide += "a{1000}";
  EXPECT_FALSE(parse_regex(wide, &err));
  EXPECT_NE(err.message.find("too large"), std::string::npos) << err.message;
}

TEST(RegexParse, ErrorColumnPointsIntoPattern) {
  RegexError err;
  EXPECT_FALSE(parse_regex("/api/(v1", &err));
  EXPECT_EQ(err.column, 8u);
}

TEST(Dfa, EmptinessAndMinimality) {
  auto re = parse_regex("[a-c]*");
  ASSERT_TRUE(re);
  ir::Dfa d = ir::build_dfa(*re->root);
  EXPECT_EQ(d.size(), 2u);  // accepting loop + dead state
  EXPECT_FALSE(d.empty());
  auto never = parse_regex("[^\\x00-\\xff]");
  ASSERT_TRUE(never);
  EXPECT_TRUE(ir::build_dfa(*never->root).empty());
}

}  // namespace
}  // namespace polc::frontend
