#include "regex_z3.h"

namespace polc::verifier {

z3::expr RegexTranslator::literal(std::string_view bytes) {
  return c_.string_val(bytes.data(), static_cast<unsigned>(bytes.size()));
}

z3::expr RegexTranslator::byte_range(unsigned char lo, unsigned char hi) {
  char a = static_cast<char>(lo), b = static_cast<char>(hi);
  if (lo == hi) return z3::to_re(c_.string_val(&a, 1));
  return z3::range(c_.string_val(&a, 1), c_.string_val(&b, 1));
}

z3::expr RegexTranslator::union_of(const std::vector<z3::expr>& parts) {
  if (parts.empty()) {
    z3::sort s = c_.string_sort();
    return z3::re_empty(c_.re_sort(s));
  }
  if (parts.size() == 1) return parts[0];
  std::vector<Z3_ast> args;
  for (const auto& p : parts) args.push_back(p);
  Z3_ast r = Z3_mk_re_union(c_, static_cast<unsigned>(args.size()), args.data());
  c_.check_error();
  return z3::expr(c_, r);
}

z3::expr RegexTranslator::any_bytes() {
  return z3::star(byte_range(0, 255));
}

z3::expr RegexTranslator::translate(const ir::RegexNode& n) {
  if (auto it = memo_.find(&n); it != memo_.end()) return it->second;
  z3::expr r(c_);
  switch (n.kind) {
    case ir::RegexNode::Kind::Epsilon: r = z3::to_re(literal("")); break;
    case ir::RegexNode::Kind::Bytes: {
      std::vector<z3::expr> runs;
      for (int c = 0; c < 256;) {
        if (!n.bytes.test(static_cast<size_t>(c))) {
          ++c;
          continue;
        }
        int start = c;
        while (c < 256 && n.bytes.test(static_cast<size_t>(c))) ++c;
        runs.push_back(byte_range(static_cast<unsigned char>(start), static_cast<unsigned char>(c - 1)));
      }
      r = union_of(runs);
      break;
    }
    case ir::RegexNode::Kind::Concat: {
      if (n.kids.empty()) {
        r = z3::to_re(literal(""));
        break;
      }
      z3::expr_vector parts(c_);
      for (const auto& k : n.kids) parts.push_back(translate(*k));
      r = z3::concat(parts);
      break;
    }
    case ir::RegexNode::Kind::Alt: {
      std::vector<z3::expr> parts;
      for (const auto& k : n.kids) parts.push_back(translate(*k));
      r = union_of(parts);
      break;
    }
    case ir::RegexNode::Kind::Repeat: {
      z3::expr kid = translate(*n.kids[0]);
      if (n.max == 0) {
        r = z3::to_re(literal(""));
      } else if (n.max < 0) {
        r = n.min == 0 ? z3::star(kid) : kid.loop(static_cast<unsigned>(n.min));
      } else {
        r = kid.loop(static_cast<unsigned>(n.min), static_cast<unsigned>(n.max));
      }
      break;
    }
  }
  memo_.emplace(&n, r);
  return r;
}

}  // namespace polc::verifier
