// Acceptance test of issue 7: every sample in a real two-node lab. `polnode lab up --nodes 2`,
// `polc compile --nodes 2`, `polnode apply`, then real TCP and UDP sockets between every ordered
// pair of pods, and between pods and nodes, on every port that a policy or a container of the
// sample mentions plus one that nobody mentions. Every outcome must be what
// `polc matrix --format json` says for the pair's cell:
// - a uniform cell (or a pair with no cell: nothing allowed) states the verdict of every pod pair
//   of the two workloads, so each probe is compared with it;
// - a cell marked "not for every pod pair" states the union over its pairs: the union of the
//   observed outcomes must equal it, and each pair is compared with the reference evaluator;
// - a range marked http_filtered (L7 rules) is allowed at L4: the probe only opens the TCP
//   connection (request filtering is issue 8's datapath and its own tests);
// - a pod reaching itself is not a matrix cell; it is always allowed (DESIGN.md).
// Probes run as many concurrent non-blocking sockets; a drop is a timeout of kDropTimeoutMs.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "lab_test_util.h"
#include "polc/frontend/loader.h"
#include "polc/ir/evaluator.h"
#include "polc/runtime/lab.h"
#include "polc/runtime/probe.h"

namespace polc::runtime {
namespace {

using testing::LabGuard;
using testing::run;
using testing::TempDir;
using testing::unique_lab;
using Clock = std::chrono::steady_clock;

const std::string kSrc = POLC_SOURCE_DIR;
constexpr int kNodes = 2;
constexpr int kDropTimeoutMs = 300;    // a dropped SYN or datagram: well under the 1 s SYN retransmit
constexpr int kRetryTimeoutMs = 3000;  // a probe that should have passed is tried again, slowly
constexpr size_t kWindow = 1000;       // sockets in flight at once

// ---------------------------------------------------------------------------------------------
// The matrix as `polc matrix --format json` prints it

struct PortRange {
  uint8_t proto = 0;
  uint16_t lo = 0, hi = 0;
  bool http = false;
};

struct Cell {
  std::vector<PortRange> ranges;
  bool uniform = true;
};

/// What a cell says about (proto, port): allowed, and whether HTTP rules filter it.
struct CellVerdict {
  bool allowed = false;
  bool http = false;
};

class Matrix {
 public:
  static Matrix parse(const std::string& text) {
    Matrix m;
    auto j = nlohmann::json::parse(text);
    for (const auto& e : j.at("endpoints")) m.names_.insert(e.get<std::string>());
    for (const auto& e : j.at("edges")) {
      Cell c;
      c.uniform = e.at("uniform").get<bool>();
      for (const auto& p : e.at("ports")) {
        auto proto = ir::parse_protocol(p.at("protocol").get<std::string>());
        c.ranges.push_back({proto ? *proto : uint8_t(0), p.at("from").get<uint16_t>(), p.at("to").get<uint16_t>(),
                            p.at("http_filtered").get<bool>()});
      }
      m.cells_[{e.at("src").get<std::string>(), e.at("dst").get<std::string>()}] = std::move(c);
    }
    return m;
  }
  [[nodiscard]] bool has_name(const std::string& n) const { return names_.count(n) > 0; }
  /// The cell of a pair of matrix rows; null when the matrix lists none (nothing allowed).
  [[nodiscard]] const Cell* cell(const std::string& src, const std::string& dst) const {
    auto it = cells_.find({src, dst});
    return it == cells_.end() ? nullptr : &it->second;
  }
  static CellVerdict verdict(const Cell* c, uint8_t proto, uint16_t port) {
    if (c)
      for (const auto& r : c->ranges)
        if (r.proto == proto && port >= r.lo && port <= r.hi) return {true, r.http};
    return {};
  }

 private:
  std::set<std::string> names_;
  std::map<std::pair<std::string, std::string>, Cell> cells_;
};

// ---------------------------------------------------------------------------------------------
// Concurrent probes

enum class Seen : uint8_t { Ok, Timeout, Refused, WrongPeer, Error };

const char* seen_name(Seen s) {
  switch (s) {
    case Seen::Ok: return "connected/answered";
    case Seen::Timeout: return "timeout (dropped)";
    case Seen::Refused: return "refused";
    case Seen::WrongPeer: return "answered by the wrong server";
    case Seen::Error: return "error";
  }
  return "?";
}

struct Job {
  const Netns* ns = nullptr;  ///< where the client socket lives
  Endpoint4 to;
  bool tcp = true;
  bool read_id = true;  ///< TCP: wait for the server's greeting; UDP always reads the reply
  std::string id;       ///< the destination server's id: greetings and replies start with "<id>\n"
};

struct Observation {
  Seen seen = Seen::Error;
  std::string detail;
};

Seen seen_of_errno(int err) {
  return err == ECONNREFUSED || err == ECONNRESET ? Seen::Refused : Seen::Error;
}

/// Runs every job with up to `window` sockets in flight; each job has `timeout_ms` from its start.
std::vector<Observation> run_jobs(const std::vector<Job>& jobs, int timeout_ms, size_t window) {
  struct Live {
    size_t job = 0;
    Fd fd;
    Clock::time_point deadline;
    bool connected = false;
    std::string got;
  };
  std::vector<Observation> out(jobs.size());
  std::vector<Live> live;
  size_t next = 0;
  auto finish = [&](Live& l, Seen s, std::string detail = {}) {
    out[l.job] = {s, std::move(detail)};
    l.fd = Fd();
  };
  auto check_reply = [&](Live& l) {
    auto nl = l.got.find('\n');
    if (nl == std::string::npos) return false;
    const Job& j = jobs[l.job];
    if (l.got.compare(0, nl, j.id) == 0)
      finish(l, Seen::Ok);
    else
      finish(l, Seen::WrongPeer, "reply '" + l.got.substr(0, nl) + "'");
    return true;
  };
  while (next < jobs.size() || !live.empty()) {
    while (live.size() < window && next < jobs.size()) {
      const Job& j = jobs[next];
      Live l;
      l.job = next++;
      l.deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
      auto fd = socket_in(*j.ns, AF_INET, (j.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK);
      if (!fd) {
        out[l.job] = {Seen::Error, fd.error().message};
        continue;
      }
      l.fd = std::move(*fd);
      sockaddr_in sa{};
      sa.sin_family = AF_INET;
      sa.sin_addr.s_addr = htonl(j.to.ip);
      sa.sin_port = htons(j.to.port);
      int rc = ::connect(l.fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
      if (rc < 0 && errno != EINPROGRESS) {
        finish(l, seen_of_errno(errno), std::strerror(errno));
        continue;
      }
      if (!j.tcp && ::send(l.fd.get(), "q", 1, 0) != 1) {
        finish(l, seen_of_errno(errno), std::strerror(errno));
        continue;
      }
      live.push_back(std::move(l));
    }
    if (live.empty()) continue;
    std::vector<pollfd> pfds;
    Clock::time_point first = live.front().deadline;
    for (const auto& l : live) {
      bool want_out = jobs[l.job].tcp && !l.connected;
      pfds.push_back({l.fd.get(), static_cast<short>(want_out ? POLLOUT : POLLIN), 0});
      first = std::min(first, l.deadline);
    }
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(first - Clock::now()).count() + 1;
    int n = ::poll(pfds.data(), pfds.size(), static_cast<int>(std::max<int64_t>(wait, 0)));
    if (n < 0 && errno != EINTR) {
      ADD_FAILURE() << "poll: " << std::strerror(errno);
      return out;
    }
    auto now = Clock::now();
    for (size_t i = 0; i < live.size(); ++i) {
      Live& l = live[i];
      const Job& j = jobs[l.job];
      short ev = pfds[i].revents;
      if (ev != 0) {
        if (j.tcp && !l.connected) {
          int err = 0;
          socklen_t len = sizeof err;
          (void)::getsockopt(l.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) {
            finish(l, seen_of_errno(err), std::strerror(err));
          } else {
            l.connected = true;
            if (!j.read_id) finish(l, Seen::Ok);
          }
        } else {
          char buf[512];
          ssize_t got = ::recv(l.fd.get(), buf, sizeof buf, 0);
          if (got > 0) {
            l.got.append(buf, static_cast<size_t>(got));
            if (!check_reply(l) && !j.tcp) finish(l, Seen::WrongPeer, "reply '" + l.got + "'");
          } else if (got == 0) {
            finish(l, Seen::WrongPeer, "closed before a greeting ('" + l.got + "')");
          } else if (errno != EAGAIN && errno != EINTR) {
            finish(l, seen_of_errno(errno), std::strerror(errno));
          }
        }
      }
      if (l.fd.valid() && now >= l.deadline)
        finish(l, Seen::Timeout, l.connected ? "connected, no greeting" : "no answer");
    }
    live.erase(std::remove_if(live.begin(), live.end(), [](const Live& l) { return !l.fd.valid(); }), live.end());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The test

/// A probe end: a pod or a node of the lab.
struct End {
  std::string name;  ///< "default/frontend-0", "node node-1"
  std::string row;   ///< the matrix row: "default/frontend", "node node-1"
  std::string node;
  std::string netns;
  Ipv4Addr ip = 0;
  std::optional<ir::EndpointId> pod;  ///< in the model; none for nodes
};

struct Probe {
  size_t src = 0, dst = 0;
  uint16_t port = 0;
  bool tcp = true;
  bool expected = false;  ///< per pair: the matrix (uniform cells, self) or the evaluator
  bool exact = true;      ///< the matrix states this pair's verdict (else only the cell's union)
  bool l4_only = false;   ///< an HTTP-filtered range: only the connection is opened
  std::string reason;     ///< where `expected` comes from
  Observation seen;
  bool retried = false;
};

std::string describe(const std::vector<End>& ends, const Probe& p) {
  return ends[p.src].name + " -> " + ends[p.dst].name + " " + ipv4_str(ends[p.dst].ip) + ":" + std::to_string(p.port) +
         (p.tcp ? "/TCP" : "/UDP") + (p.l4_only ? " (L4 only)" : "");
}

/// Every port a policy rule or a container of the model mentions (range ends for ranges).
std::set<uint16_t> mentioned_ports(const ir::Model& m) {
  std::set<uint16_t> ports;
  for (const auto& e : m.endpoints)
    for (const auto& cp : e.ports) ports.insert(cp.port);
  for (const auto& r : m.rules)
    for (const auto& g : r.ports)
      for (const auto& pm : g.ports)
        if (pm.named.empty() && !pm.range.is_all()) {
          ports.insert(pm.range.lo);
          ports.insert(pm.range.hi);
        }
  ports.erase(0);
  return ports;
}

struct SampleCase {
  const char* dir;
  const char* tag;  ///< lab name prefix, `mx` + a short word
};

void PrintTo(const SampleCase& c, std::ostream* os) {
  *os << c.dir;
}

class SampleMatrix : public ::testing::TestWithParam<SampleCase> {};

TEST_P(SampleMatrix, KernelAgreesWithPolcMatrixOnEveryPair) {
  auto t0 = Clock::now();
  const SampleCase& sc = GetParam();
  const std::string sample = kSrc + "/samples/" + sc.dir;
  const std::string nodes = std::to_string(kNodes);
  // Declared first: the lab goes down last, after the servers and namespace handles below are
  // closed, also when an assertion returns early.
  LabGuard guard(unique_lab(sc.tag));
  TempDir tmp;

  auto up = run({testing::polnode(), "lab", "up", sample, "--nodes", nodes, "--name", guard.name()});
  ASSERT_EQ(up.rc, 0) << up.out;
  auto lab = load_lab_state(guard.name());
  ASSERT_TRUE(lab) << lab.error().message;
  std::set<std::string> used_nodes;
  for (const auto& p : lab->pods) used_nodes.insert(p.pod.node);
  ASSERT_EQ(used_nodes.size(), static_cast<size_t>(kNodes)) << "the sample should spread over both nodes";

  const std::string out = tmp.path() + "/out";
  auto compiled = run({testing::polc(), "compile", sample, "--nodes", nodes, "-o", out, "--quiet"});
  ASSERT_EQ(compiled.rc, 0) << compiled.out;
  auto mx = run({testing::polc(), "matrix", sample, "--nodes", nodes, "--format", "json"});
  ASSERT_EQ(mx.rc, 0) << mx.out;
  // stderr is interleaved into `out`; the JSON document is the part from the first '{'.
  const Matrix matrix = Matrix::parse(mx.out.substr(mx.out.find('{')));

  ir::DiagnosticEngine diags;
  frontend::LoadOptions lo;
  lo.nodes = kNodes;
  auto loaded = frontend::load_inputs({sample}, diags, lo);
  ASSERT_FALSE(diags.has_errors());
  const ir::Model& model = loaded.model;

  // Ports: every mentioned one, plus one nobody mentions.
  std::set<uint16_t> port_set = mentioned_ports(model);
  uint16_t unmentioned = 7777;
  while (port_set.count(unmentioned)) ++unmentioned;
  port_set.insert(unmentioned);
  const std::vector<uint16_t> ports(port_set.begin(), port_set.end());

  // Ends: every pod (none of the samples has host-network pods) and every node.
  std::vector<End> ends;
  for (const auto& p : lab->pods) {
    ASSERT_FALSE(p.pod.host_network) << p.pod.full_name();
    End e{p.pod.full_name(), p.pod.ns + "/" + p.pod.workload,          p.pod.node, p.netns,
          p.pod.ip,          model.find_endpoint(p.pod.ns, p.pod.name)};
    ASSERT_TRUE(e.pod) << e.name << " is not in the model";
    ASSERT_EQ(model.endpoint(*e.pod).ip.value, e.ip) << e.name << ": the lab and the model disagree on its address";
    ends.push_back(std::move(e));
  }
  for (const auto& n : lab->nodes)
    ends.push_back({"node " + n.node.name, "node " + n.node.name, n.node.name, n.netns, n.node.ip, std::nullopt});
  for (const auto& e : ends) ASSERT_TRUE(matrix.has_name(e.row)) << e.row << " is not a row of the matrix";

  std::map<std::string, Netns> netns;
  for (const auto& e : ends)
    if (!netns.count(e.netns)) {
      auto ns = Netns::open(e.netns);
      ASSERT_TRUE(ns) << ns.error().message;
      netns.emplace(e.netns, std::move(*ns));
    }
  std::vector<ProbeServer> servers;
  for (const auto& e : ends) {
    auto s = ProbeServer::start({ports, ports, {}, e.name}, &netns.at(e.netns));
    ASSERT_TRUE(s) << e.name << ": " << s.error().message;
    servers.push_back(std::move(*s));
  }

  auto applied = run({testing::polnode(), "apply", out, "--name", guard.name()});
  ASSERT_EQ(applied.rc, 0) << applied.out;

  // Every ordered pair but node -> node (no policy applies between nodes; not a matrix cell).
  std::vector<Probe> probes;
  for (size_t s = 0; s < ends.size(); ++s)
    for (size_t d = 0; d < ends.size(); ++d) {
      if (!ends[s].pod && !ends[d].pod) continue;
      const Cell* cell = matrix.cell(ends[s].row, ends[d].row);
      for (uint16_t port : ports)
        for (bool tcp : {true, false}) {
          Probe p;
          p.src = s;
          p.dst = d;
          p.port = port;
          p.tcp = tcp;
          uint8_t proto = tcp ? 6 : 17;
          CellVerdict v = Matrix::verdict(cell, proto, port);
          p.l4_only = v.http;
          if (s == d) {
            p.expected = true;
            p.reason = "a pod reaching itself (DESIGN.md)";
          } else if (!cell || cell->uniform) {
            p.expected = v.allowed;
            p.reason = cell ? "matrix cell " + ends[s].row + " -> " + ends[d].row : "no matrix cell: nothing allowed";
          } else {
            auto addr = [&](const End& e) { return e.pod ? ir::Address::pod(*e.pod) : ir::Address::ip({e.ip}); };
            p.exact = false;
            p.expected = ir::evaluate(model, {addr(ends[s]), addr(ends[d]), proto, port, std::nullopt}).allowed;
            p.reason = "reference evaluator (the cell is not uniform)";
          }
          probes.push_back(std::move(p));
        }
    }

  auto jobs_of = [&](const std::vector<size_t>& which) {
    std::vector<Job> jobs;
    for (size_t i : which) {
      const Probe& p = probes[i];
      jobs.push_back({&netns.at(ends[p.src].netns), {ends[p.dst].ip, p.port}, p.tcp, !p.l4_only, ends[p.dst].name});
    }
    return jobs;
  };
  std::vector<size_t> all(probes.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  auto t_probe = Clock::now();
  auto seen = run_jobs(jobs_of(all), kDropTimeoutMs, kWindow);
  for (size_t i = 0; i < probes.size(); ++i) probes[i].seen = std::move(seen[i]);
  // A probe that should pass but timed out may have met a busy CPU: try those again, slowly.
  std::vector<size_t> again;
  for (size_t i = 0; i < probes.size(); ++i)
    if (probes[i].expected && probes[i].seen.seen == Seen::Timeout) again.push_back(i);
  if (!again.empty()) {
    auto seen2 = run_jobs(jobs_of(again), kRetryTimeoutMs, 64);
    for (size_t k = 0; k < again.size(); ++k) {
      probes[again[k]].seen = std::move(seen2[k]);
      probes[again[k]].retried = true;
    }
  }
  double probe_s = std::chrono::duration<double>(Clock::now() - t_probe).count();

  // Compare: per probe with its expectation; per non-uniform cell, the union with the matrix.
  std::vector<std::string> mismatches;
  int allowed = 0, denied = 0, l4_only = 0, cross_node = 0, tcp = 0, inexact = 0;
  std::map<std::tuple<std::string, std::string, bool, uint16_t>, std::pair<bool, bool>> unions;  // (seen, matrix)
  for (const auto& p : probes) {
    bool ok = p.seen.seen == Seen::Ok;
    bool well_formed = ok || p.seen.seen == Seen::Timeout;  // a drop is silent: never a refusal
    if (ok != p.expected || !well_formed)
      mismatches.push_back(describe(ends, p) + ": expected " + (p.expected ? "allowed" : "dropped") + " (" + p.reason +
                           "), kernel: " + seen_name(p.seen.seen) + " " + p.seen.detail +
                           (p.retried ? " (after a retry)" : ""));
    ++(p.expected ? allowed : denied);
    l4_only += p.l4_only;
    cross_node += ends[p.src].node != ends[p.dst].node;
    tcp += p.tcp;
    if (!p.exact) {
      ++inexact;
      auto& u = unions[{ends[p.src].row, ends[p.dst].row, p.tcp, p.port}];
      u.first = u.first || ok;
      u.second = Matrix::verdict(matrix.cell(ends[p.src].row, ends[p.dst].row), p.tcp ? 6 : 17, p.port).allowed;
    }
  }
  for (const auto& [key, u] : unions)
    if (u.first != u.second)
      mismatches.push_back(std::get<0>(key) + " -> " + std::get<1>(key) + ":" + std::to_string(std::get<3>(key)) +
                           (std::get<2>(key) ? "/TCP" : "/UDP") + ": the matrix cell says " +
                           (u.second ? "some pair is allowed" : "no pair is allowed") + ", the kernel " +
                           (u.first ? "allowed some pair" : "allowed none"));

  std::sort(mismatches.begin(), mismatches.end());
  for (size_t i = 0; i < std::min<size_t>(mismatches.size(), 30); ++i) ADD_FAILURE() << mismatches[i];
  EXPECT_TRUE(mismatches.empty()) << mismatches.size() << " of " << probes.size() << " probes disagree with the matrix";
  // Never vacuous: both verdicts occur, on one node and across nodes, over TCP and UDP.
  EXPECT_GT(allowed, 0);
  EXPECT_GT(denied, 0);
  EXPECT_GT(cross_node, 0);
  EXPECT_EQ(probes.size(), (ends.size() * ends.size() - lab->nodes.size() * lab->nodes.size()) * ports.size() * 2);

  std::string port_list;
  for (auto p : ports) port_list += (port_list.empty() ? "" : ",") + std::to_string(p);
  std::cout << "[ info ] " << sc.dir << ": " << probes.size() << " probes (" << lab->pods.size() << " pods + "
            << lab->nodes.size() << " nodes, ports " << port_list << " (" << unmentioned << " unmentioned), TCP " << tcp
            << " / UDP " << probes.size() - tcp << ", cross-node " << cross_node << ", expected allowed " << allowed
            << " / dropped " << denied << ", L4-only (HTTP-filtered) " << l4_only << ", in non-uniform cells "
            << inexact << ", retried " << again.size() << ") in " << probe_s << " s; whole test "
            << std::chrono::duration<double>(Clock::now() - t0).count() << " s\n";
  RecordProperty("probes", static_cast<int>(probes.size()));
}

// `--nodes N` in polc: the placement of `polnode lab up --nodes N` (the lab tests above apply
// it, which fails unless every node holds exactly the lab's pods); refused when the inventory
// places pods itself on another number of nodes.
TEST(PolcNodes, SpreadsLikeTheLabAndRefusesAnotherPlacement) {
  ir::DiagnosticEngine diags;
  frontend::LoadOptions lo;
  lo.nodes = 3;
  auto res = frontend::load_inputs({kSrc + "/samples/zero-trust"}, diags, lo);
  ASSERT_FALSE(diags.has_errors());
  ASSERT_EQ(res.model.nodes.size(), 3u);
  std::map<std::string, int> pods_per_node;
  for (const auto& e : res.model.endpoints) ++pods_per_node[res.model.node(e.node).name];
  EXPECT_EQ(pods_per_node.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(res.model.nodes[i].name, "node-" + std::to_string(i + 1));
    EXPECT_EQ(res.model.nodes[i].ip.str(), "192.168.65." + std::to_string(i + 2));
  }

  TempDir tmp;
  auto twonode = kSrc + "/tests/runtime/inputs/twonode";
  auto bad = run({testing::polc(), "compile", twonode, "--nodes", "3", "-o", tmp.path() + "/x", "--quiet"});
  EXPECT_EQ(bad.rc, 2) << bad.out;
  EXPECT_NE(bad.out.find("already places pods on 2 nodes"), std::string::npos) << bad.out;
  auto same = run({testing::polc(), "compile", twonode, "--nodes", "2", "-o", tmp.path() + "/y", "--quiet"});
  EXPECT_EQ(same.rc, 0) << same.out;
  auto mx = run({testing::polc(), "matrix", kSrc + "/samples/demo", "--nodes", "2", "--format", "json"});
  ASSERT_EQ(mx.rc, 0) << mx.out;
  auto names = nlohmann::json::parse(mx.out.substr(mx.out.find('{')))["endpoints"];
  EXPECT_NE(std::find(names.begin(), names.end(), "node node-2"), names.end()) << mx.out;
}

INSTANTIATE_TEST_SUITE_P(Samples, SampleMatrix,
                         ::testing::Values(SampleCase{"demo", "mxdemo"}, SampleCase{"cilium-demo", "mxcil"},
                                           SampleCase{"l7-api", "mxl7"}, SampleCase{"zero-trust", "mxzt"}),
                         [](const ::testing::TestParamInfo<SampleCase>& i) {
                           std::string n = i.param.dir;
                           std::replace(n.begin(), n.end(), '-', '_');
                           return n;
                         });

}  // namespace
}  // namespace polc::runtime
