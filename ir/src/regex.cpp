#include "polc/ir/regex.h"

#include <algorithm>
#include <map>
#include <set>

namespace polc::ir {

RegexPtr RegexNode::epsilon() {
  return std::make_shared<RegexNode>();
}

RegexPtr RegexNode::byte_set(const std::bitset<256>& set) {
  auto n = std::make_shared<RegexNode>();
  n->kind = Kind::Bytes;
  n->bytes = set;
  return n;
}

RegexPtr RegexNode::literal(std::string_view s) {
  std::vector<RegexPtr> kids;
  for (unsigned char c : s) {
    std::bitset<256> b;
    b.set(c);
    kids.push_back(byte_set(b));
  }
  return concat(std::move(kids));
}

RegexPtr RegexNode::concat(std::vector<RegexPtr> kids) {
  if (kids.empty()) return epsilon();
  if (kids.size() == 1) return kids[0];
  auto n = std::make_shared<RegexNode>();
  n->kind = Kind::Concat;
  n->kids = std::move(kids);
  return n;
}

RegexPtr RegexNode::alt(std::vector<RegexPtr> kids) {
  if (kids.size() == 1) return kids[0];
  auto n = std::make_shared<RegexNode>();
  n->kind = Kind::Alt;
  n->kids = std::move(kids);
  return n;
}

RegexPtr RegexNode::repeat(RegexPtr kid, int min, int max) {
  auto n = std::make_shared<RegexNode>();
  n->kind = Kind::Repeat;
  n->kids = {std::move(kid)};
  n->min = min;
  n->max = max;
  return n;
}

namespace {

/// Thompson NFA: each state has byte-set transitions and epsilon edges.
struct Nfa {
  struct State {
    std::vector<std::pair<uint32_t, uint32_t>> edges;  ///< (byte-set index, target)
    std::vector<uint32_t> eps;
  };
  std::vector<State> states;
  std::vector<std::bitset<256>> sets;
  uint32_t start = 0, accept = 0;

  uint32_t add() {
    states.emplace_back();
    return static_cast<uint32_t>(states.size() - 1);
  }

  /// Builds a fragment for `n` from state `in`; returns its exit state.
  uint32_t build(const RegexNode& n, uint32_t in) {
    switch (n.kind) {
      case RegexNode::Kind::Epsilon: return in;
      case RegexNode::Kind::Bytes: {
        uint32_t out = add();
        sets.push_back(n.bytes);
        states[in].edges.emplace_back(static_cast<uint32_t>(sets.size() - 1), out);
        return out;
      }
      case RegexNode::Kind::Concat: {
        uint32_t cur = in;
        for (const auto& k : n.kids) cur = build(*k, cur);
        return cur;
      }
      case RegexNode::Kind::Alt: {
        uint32_t out = add();
        for (const auto& k : n.kids) {
          uint32_t s = add();
          states[in].eps.push_back(s);
          uint32_t e = build(*k, s);
          states[e].eps.push_back(out);
        }
        return out;
      }
      case RegexNode::Kind::Repeat: {
        uint32_t cur = in;
        for (int i = 0; i < n.min; ++i) cur = build(*n.kids[0], cur);
        if (n.max < 0) {
          uint32_t loop = add();
          states[cur].eps.push_back(loop);
          uint32_t e = build(*n.kids[0], loop);
          states[e].eps.push_back(loop);
          return loop;
        }
        uint32_t out = add();
        for (int i = n.min; i < n.max; ++i) {
          states[cur].eps.push_back(out);
          cur = build(*n.kids[0], cur);
        }
        states[cur].eps.push_back(out);
        return out;
      }
    }
    return in;
  }

  static Nfa from(const std::vector<const RegexNode*>& res) {
    Nfa a;
    a.start = a.add();
    a.accept = a.add();
    for (const auto* r : res) {
      uint32_t s = a.add();
      a.states[a.start].eps.push_back(s);
      uint32_t e = a.build(*r, s);
      a.states[e].eps.push_back(a.accept);
    }
    return a;
  }

  void closure(std::vector<uint32_t>& set) const {
    std::vector<bool> seen(states.size());
    for (auto s : set) seen[s] = true;
    for (size_t i = 0; i < set.size(); ++i)
      for (auto t : states[set[i]].eps)
        if (!seen[t]) {
          seen[t] = true;
          set.push_back(t);
        }
    std::sort(set.begin(), set.end());
  }

  std::vector<uint32_t> step(const std::vector<uint32_t>& set, unsigned char c) const {
    std::vector<uint32_t> next;
    std::vector<bool> seen(states.size());
    for (auto s : set)
      for (const auto& [bi, t] : states[s].edges)
        if (sets[bi].test(c) && !seen[t]) {
          seen[t] = true;
          next.push_back(t);
        }
    closure(next);
    return next;
  }
};

}  // namespace

bool Regex::full_match(std::string_view s) const {
  if (!root) return false;
  Nfa a = Nfa::from({root.get()});
  std::vector<uint32_t> cur{a.start};
  a.closure(cur);
  for (unsigned char c : s) {
    cur = a.step(cur, c);
    if (cur.empty()) return false;
  }
  return std::binary_search(cur.begin(), cur.end(), a.accept);
}

bool Regex::matches_everything() const {
  if (!root) return false;
  Dfa d = build_dfa(*root, 256);
  if (d.size() == 0) return false;
  for (size_t s = 0; s < d.size(); ++s)
    if (!d.accepting[s]) return false;
  return true;
}

bool Dfa::accepts(std::string_view s) const {
  if (next.empty()) return false;
  uint32_t st = 0;
  for (unsigned char c : s) st = next[st][c];
  return accepting[st];
}

bool Dfa::empty() const {
  if (next.empty()) return true;
  std::vector<bool> seen(next.size());
  std::vector<uint32_t> work{0};
  seen[0] = true;
  while (!work.empty()) {
    uint32_t s = work.back();
    work.pop_back();
    if (accepting[s]) return false;
    for (auto t : next[s])
      if (!seen[t]) {
        seen[t] = true;
        work.push_back(t);
      }
  }
  return true;
}

Dfa build_dfa(const RegexNode& re, size_t max_states) {
  return build_dfa_union({&re}, max_states);
}

Dfa build_dfa_union(const std::vector<const RegexNode*>& res, size_t max_states) {
  Nfa a = Nfa::from(res);
  // Byte classes: bytes no transition distinguishes share a class.
  std::vector<uint32_t> cls(256, 0);
  {
    std::map<std::vector<bool>, uint32_t> sig_to_class;
    for (int c = 0; c < 256; ++c) {
      std::vector<bool> sig(a.sets.size());
      for (size_t i = 0; i < a.sets.size(); ++i) sig[i] = a.sets[i].test(c);
      auto [it, fresh] = sig_to_class.emplace(sig, static_cast<uint32_t>(sig_to_class.size()));
      cls[c] = it->second;
    }
  }
  uint32_t nclasses = *std::max_element(cls.begin(), cls.end()) + 1;
  std::vector<unsigned char> rep(nclasses);
  for (int c = 255; c >= 0; --c) rep[cls[c]] = static_cast<unsigned char>(c);

  // Subset construction.
  std::map<std::vector<uint32_t>, uint32_t> ids;
  std::vector<std::vector<uint32_t>> subsets;
  std::vector<std::vector<uint32_t>> trans;  // per state, per class
  std::vector<uint32_t> start{a.start};
  a.closure(start);
  ids[start] = 0;
  subsets.push_back(start);
  for (size_t i = 0; i < subsets.size(); ++i) {
    std::vector<uint32_t> row(nclasses);
    for (uint32_t k = 0; k < nclasses; ++k) {
      auto nx = a.step(subsets[i], rep[k]);
      auto [it, fresh] = ids.emplace(nx, static_cast<uint32_t>(subsets.size()));
      if (fresh) {
        if (subsets.size() >= max_states) return Dfa{};
        subsets.push_back(nx);
      }
      row[k] = it->second;
    }
    trans.push_back(std::move(row));
  }
  size_t n = subsets.size();
  std::vector<bool> acc(n);
  for (size_t i = 0; i < n; ++i) acc[i] = std::binary_search(subsets[i].begin(), subsets[i].end(), a.accept);

  // Moore minimization: refine by (block, blocks of successors) until stable.
  std::vector<uint32_t> block(n);
  for (size_t i = 0; i < n; ++i) block[i] = acc[i] ? 1 : 0;
  size_t nblocks = 0;
  for (;;) {
    std::map<std::vector<uint32_t>, uint32_t> sig_ids;
    std::vector<uint32_t> nb(n);
    for (size_t i = 0; i < n; ++i) {
      std::vector<uint32_t> sig{block[i]};
      for (uint32_t k = 0; k < nclasses; ++k) sig.push_back(block[trans[i][k]]);
      auto [it, fresh] = sig_ids.emplace(sig, static_cast<uint32_t>(sig_ids.size()));
      nb[i] = it->second;
    }
    bool stable = sig_ids.size() == nblocks;
    nblocks = sig_ids.size();
    block = nb;
    if (stable) break;
  }
  // Renumber so the start state's block is 0, in BFS order for determinism.
  std::vector<int> order(nblocks, -1);
  std::vector<uint32_t> queue{block[0]};
  order[block[0]] = 0;
  std::vector<size_t> member(nblocks);
  for (size_t i = 0; i < n; ++i) member[block[i]] = i;
  int next_id = 1;
  for (size_t qi = 0; qi < queue.size(); ++qi) {
    size_t s = member[queue[qi]];
    for (uint32_t k = 0; k < nclasses; ++k) {
      uint32_t b = block[trans[s][k]];
      if (order[b] < 0) {
        order[b] = next_id++;
        queue.push_back(b);
      }
    }
  }
  Dfa d;
  d.next.assign(queue.size(), std::vector<uint32_t>(256));
  d.accepting.assign(queue.size(), false);
  for (uint32_t b : queue) {
    size_t s = member[b];
    uint32_t id = static_cast<uint32_t>(order[b]);
    d.accepting[id] = acc[s];
    for (int c = 0; c < 256; ++c) d.next[id][c] = static_cast<uint32_t>(order[block[trans[s][cls[c]]]]);
  }
  for (size_t s = 0; s < d.size(); ++s) {
    bool sink = !d.accepting[s];
    for (int c = 0; c < 256 && sink; ++c) sink = d.next[s][c] == s;
    if (sink) {
      d.dead = static_cast<int>(s);
      break;
    }
  }
  return d;
}

}  // namespace polc::ir
