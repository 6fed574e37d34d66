#include "polc/backend_bpf/build_l7_maps.h"

#include <fmt/format.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <map>
#include <set>

namespace polc::backend_bpf {

uint64_t TaggedDfa::run(std::string_view s) const {
  if (next.empty()) return 0;
  uint32_t st = 0;
  for (unsigned char c : s) st = next[st][c];
  return accept[st];
}

std::optional<TaggedDfa> build_tagged_dfa(const std::vector<TaggedPart>& parts, size_t max_states) {
  // Each part's minimal DFA, then the reachable product, then Moore minimization by tags.
  std::vector<ir::Dfa> dfas;
  for (const auto& p : parts) {
    dfas.push_back(ir::build_dfa(*p.re, max_states));
    if (dfas.back().size() == 0) return std::nullopt;
  }
  std::map<std::vector<uint32_t>, uint32_t> ids;
  std::vector<std::vector<uint32_t>> tuples;
  std::vector<std::vector<uint32_t>> trans;
  std::vector<uint64_t> tags;
  tuples.emplace_back(parts.size(), 0);
  ids[tuples[0]] = 0;
  for (size_t i = 0; i < tuples.size(); ++i) {
    uint64_t acc = 0;
    for (size_t k = 0; k < parts.size(); ++k)
      if (dfas[k].accepting[tuples[i][k]]) acc |= parts[k].tags;
    tags.push_back(acc);
    std::vector<uint32_t> row(256);
    for (int c = 0; c < 256; ++c) {
      std::vector<uint32_t> nx(parts.size());
      for (size_t k = 0; k < parts.size(); ++k) nx[k] = dfas[k].next[tuples[i][k]][c];
      auto [it, fresh] = ids.emplace(nx, static_cast<uint32_t>(tuples.size()));
      if (fresh) {
        if (tuples.size() >= max_states) return std::nullopt;
        tuples.push_back(std::move(nx));
      }
      row[c] = it->second;
    }
    trans.push_back(std::move(row));
  }
  const size_t n = tuples.size();
  // Moore: refine the partition by tags until stable.
  std::vector<uint32_t> block(n);
  {
    std::map<uint64_t, uint32_t> by_tags;
    for (size_t i = 0; i < n; ++i)
      block[i] = by_tags.emplace(tags[i], static_cast<uint32_t>(by_tags.size())).first->second;
  }
  size_t nblocks = 0;
  for (;;) {
    std::map<std::vector<uint32_t>, uint32_t> sig_ids;
    std::vector<uint32_t> nb(n);
    for (size_t i = 0; i < n; ++i) {
      std::vector<uint32_t> sig;
      sig.reserve(257);
      sig.push_back(block[i]);
      for (int c = 0; c < 256; ++c) sig.push_back(block[trans[i][c]]);
      nb[i] = sig_ids.emplace(std::move(sig), static_cast<uint32_t>(sig_ids.size())).first->second;
    }
    bool stable = sig_ids.size() == nblocks;
    nblocks = sig_ids.size();
    block = std::move(nb);
    if (stable) break;
  }
  // Number the blocks in BFS order from the start (deterministic output).
  std::vector<size_t> member(nblocks);
  for (size_t i = n; i-- > 0;) member[block[i]] = i;
  std::vector<int64_t> order(nblocks, -1);
  std::vector<uint32_t> queue{block[0]};
  order[block[0]] = 0;
  for (size_t qi = 0; qi < queue.size(); ++qi) {
    size_t s = member[queue[qi]];
    for (int c = 0; c < 256; ++c) {
      uint32_t b = block[trans[s][c]];
      if (order[b] < 0) {
        order[b] = static_cast<int64_t>(queue.size());
        queue.push_back(b);
      }
    }
  }
  TaggedDfa d;
  d.next.assign(queue.size(), std::vector<uint32_t>(256));
  d.accept.assign(queue.size(), 0);
  for (uint32_t b : queue) {
    size_t s = member[b];
    auto id = static_cast<size_t>(order[b]);
    d.accept[id] = tags[s];
    for (int c = 0; c < 256; ++c) d.next[id][c] = static_cast<uint32_t>(order[block[trans[s][c]]]);
  }
  return d;
}

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// Appends DFAs to polc_http_dfa, sharing identical ones.
struct DfaStore {
  std::vector<polc_dfa_state> states;
  std::map<std::pair<std::vector<uint64_t>, std::vector<std::vector<uint32_t>>>, uint32_t> interned;
  size_t distinct = 0;

  uint32_t add(const TaggedDfa& d) {
    auto key = std::make_pair(d.accept, d.next);
    if (auto it = interned.find(key); it != interned.end()) return it->second;
    auto base = static_cast<uint32_t>(states.size());
    for (size_t s = 0; s < d.size(); ++s) {
      polc_dfa_state st{};
      st.accept = d.accept[s];
      for (int c = 0; c < 256; ++c) st.next[c] = base + d.next[s][c];
      states.push_back(st);
    }
    interned.emplace(std::move(key), base);
    ++distinct;
    return base;
  }
};

}  // namespace

ir::Result<L7Maps> build_l7_maps(const ir::Model& m, const ir::PolicyTables& t, ir::DiagnosticEngine& diags,
                                 size_t max_states) {
  L7Maps out;
  out.sets.name = "polc_l7_sets";
  out.dfa.name = "polc_http_dfa";
  out.enabled = t.l7_sets.size() > 1;  // [0] is unused
  if (!out.enabled) return out;

  DfaStore store;
  bool ok = true;
  const auto any_bytes = ir::RegexNode::repeat(ir::RegexNode::byte_set(std::bitset<256>().set()), 0, -1);
  for (uint32_t id = 1; id < t.l7_sets.size(); ++id) {
    const ir::L7Set& set = t.l7_sets[id];
    std::vector<const ir::HttpMatch*> matches;
    for (const auto& ref : set.matches) matches.push_back(&m.rule(ref.rule).ports[ref.group].http[ref.match]);
    const ir::SourceLoc loc = matches.empty() ? ir::SourceLoc{} : matches.front()->loc;
    if (matches.size() > POLC_L7_MAX_MATCHES) {
      diags.report(ir::DiagId::DatapathUnsupported, loc,
                   fmt::format("{} HTTP rules apply to the same peer and port; the datapath matches at most {}",
                               matches.size(), POLC_L7_MAX_MATCHES),
                   "merge rules with a regex alternation, e.g. method: 'GET|HEAD'");
      ok = false;
      continue;
    }
    polc_l7_set v{};
    for (auto& d : v.dfa) d = POLC_NONE;
    for (size_t i = 0; i < matches.size(); ++i) v.all |= uint64_t(1) << i;

    // Method, path, host: one tagged DFA per field over the distinct regexes, tagged with the
    // matches using each; matches without the field are free.
    auto field_dfa = [&](int field, auto get) {
      std::map<std::string, TaggedPart> parts;
      for (size_t i = 0; i < matches.size(); ++i) {
        const std::optional<ir::Regex>& re = get(*matches[i]);
        if (!re || !re->root) {
          v.free[field] |= uint64_t(1) << i;
          continue;
        }
        auto& p = parts[re->source];
        p.re = re->root.get();
        p.tags |= uint64_t(1) << i;
      }
      if (parts.empty()) return true;
      std::vector<TaggedPart> list;
      for (auto& [src, p] : parts) list.push_back(p);
      auto dfa = build_tagged_dfa(list, max_states);
      if (!dfa) return false;
      v.dfa[field] = store.add(*dfa);
      return true;
    };
    bool fits =
        field_dfa(POLC_L7_METHOD, [](const ir::HttpMatch& h) -> const std::optional<ir::Regex>& { return h.method; }) &&
        field_dfa(POLC_L7_PATH, [](const ir::HttpMatch& h) -> const std::optional<ir::Regex>& { return h.path; }) &&
        field_dfa(POLC_L7_HOST, [](const ir::HttpMatch& h) -> const std::optional<ir::Regex>& { return h.host; });

    // Headers: each distinct (name, value) requirement gets a bit; a header line
    // "lower-case-name:value" accepts the bits of the requirements it meets.
    std::map<std::pair<std::string, std::optional<std::string>>, uint32_t> reqs;
    for (size_t i = 0; i < matches.size(); ++i)
      for (const auto& h : matches[i]->headers) {
        auto key = std::make_pair(lower(h.name), h.value);
        auto it = reqs.emplace(key, static_cast<uint32_t>(reqs.size())).first;
        if (it->second < 64) v.header_req[i] |= uint64_t(1) << it->second;
      }
    if (reqs.size() > 64) {
      diags.report(ir::DiagId::DatapathUnsupported, loc,
                   fmt::format("{} distinct header requirements apply to the same peer and port; the datapath "
                               "matches at most 64",
                               reqs.size()));
      ok = false;
      continue;
    }
    if (fits && !reqs.empty()) {
      std::vector<ir::RegexPtr> keep;
      std::vector<TaggedPart> parts;
      for (const auto& [key, bit] : reqs) {
        std::vector<ir::RegexPtr> seq{ir::RegexNode::literal(key.first + ":")};
        seq.push_back(key.second ? ir::RegexNode::literal(*key.second) : any_bytes);
        keep.push_back(ir::RegexNode::concat(std::move(seq)));
        parts.push_back(TaggedPart{keep.back().get(), uint64_t(1) << bit});
      }
      auto dfa = build_tagged_dfa(parts, max_states);
      if (dfa)
        v.dfa[POLC_L7_HEADER] = store.add(*dfa);
      else
        fits = false;
    }
    if (!fits) {
      diags.report(ir::DiagId::DatapathUnsupported, loc,
                   fmt::format("the HTTP rules for one peer and port need a DFA of more than {} states", max_states),
                   "simplify the method, path or host regexes (bounded repetitions multiply states)");
      ok = false;
      continue;
    }
    out.sets.add(id, v);
  }
  if (!ok) return ir::Error{"HTTP rules the datapath cannot enforce"};
  out.sets.used = t.l7_sets.size();
  for (uint32_t s = 0; s < store.states.size(); ++s) out.dfa.add(s, store.states[s]);
  out.dfa.used = store.states.size();
  out.dfas = store.distinct;
  return out;
}

void plan_l7_capacity(CapacityPlan& plan, const L7Maps& l7) {
  if (!l7.enabled) return;
  auto want = [](uint64_t used, uint64_t floor) {
    return std::max<uint64_t>(floor, std::bit_ceil(std::max<uint64_t>(1, used * 2)));
  };
  plan.maps.push_back(MapPlan{"polc_l7_sets", "POLC_CAP_L7_SETS", l7.sets.used, want(l7.sets.used, 16)});
  plan.maps.push_back(MapPlan{"polc_http_dfa", "POLC_CAP_HTTP_DFA", l7.dfa.used, want(l7.dfa.used, 64)});
  plan.maps.push_back(MapPlan{"polc_l7_stats", "", 0, 0});
  plan.maps.push_back(MapPlan{"polc_l7_scratch", "", 0, 0});
  std::sort(plan.maps.begin(), plan.maps.end(), [](const MapPlan& a, const MapPlan& b) { return a.name < b.name; });
  plan.build_config += "#define POLC_FEATURE_L7 1\n";
  for (const auto& p : plan.maps)
    if (p.name == "polc_l7_sets" || p.name == "polc_http_dfa")
      plan.build_config += fmt::format("#define {} {}u\n", p.macro, p.max_entries);
}

namespace {

bool tchar(unsigned char c) {
  return std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool field_value_ok(std::string_view v) {
  if (v.empty() || v.front() == ' ' || v.front() == '\t' || v.back() == ' ' || v.back() == '\t') return false;
  return std::all_of(v.begin(), v.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c < 0x7f);
  });
}

int hex(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// The target rules of l7_http.h's parser, as a plain function.
bool target_ok(std::string_view p) {
  if (p.empty() || p[0] != '/') return false;
  size_t seg_len = 0, seg_dots = 0;
  auto dot_segment = [&] { return seg_len == seg_dots && (seg_dots == 1 || seg_dots == 2); };
  for (size_t i = 0; i < p.size(); ++i) {
    auto c = static_cast<unsigned char>(p[i]);
    if (c <= 0x20 || c >= 0x7f || c == '#' || c == '\\') return false;
    if (c == '?')
      return !dot_segment() && std::none_of(p.begin() + static_cast<long>(i), p.end(), [](char x) {
        auto b = static_cast<unsigned char>(x);
        return b <= 0x20 || b >= 0x7f || b == '#' || b == '\\';
      });
    if (c == '%') {
      if (i + 2 >= p.size()) return false;
      int h1 = hex(static_cast<unsigned char>(p[i + 1])), h2 = hex(static_cast<unsigned char>(p[i + 2]));
      if (h1 < 0 || h2 < 0) return false;
      auto v = static_cast<unsigned char>(h1 * 16 + h2);
      if (std::isalnum(v) || std::string_view("-._~/\\%").find(static_cast<char>(v)) != std::string_view::npos)
        return false;
      ++seg_len;
      i += 2;
      continue;
    }
    if (c == '/') {
      if ((i > 0 && p[i - 1] == '/') || dot_segment()) return false;
      seg_len = seg_dots = 0;
      continue;
    }
    ++seg_len;
    if (c == '.') ++seg_dots;
  }
  return !dot_segment();
}

}  // namespace

std::optional<std::string> http_request_bytes(const ir::HttpRequest& req) {
  if (req.method.empty() || req.method.size() > 32 || req.method == "PRI" ||
      !std::all_of(req.method.begin(), req.method.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
    return std::nullopt;
  if (!target_ok(req.path)) return std::nullopt;
  std::string out = req.method + " " + req.path + " HTTP/1.1\r\n";
  if (!req.host.empty()) {
    if (!field_value_ok(req.host)) return std::nullopt;
    out += "Host: " + req.host + "\r\n";
  }
  for (const auto& [name, value] : req.headers) {
    std::string ln = lower(name);
    if (name.empty() ||
        !std::all_of(name.begin(), name.end(), [](char c) { return tchar(static_cast<unsigned char>(c)); }) ||
        ln == "host" || ln == "content-length" || ln == "transfer-encoding" || !field_value_ok(value))
      return std::nullopt;
    out += name + ": " + value + "\r\n";
  }
  out += "\r\n";
  if (out.size() > POLC_L7_MAX_HEADER) return std::nullopt;
  return out;
}

}  // namespace polc::backend_bpf
