// Lab benchmark: real traffic between two pods of a `polnode lab` (one node, client -> server
// through the node's namespace), side by side in one run, each configuration in its own lab
// (all up at once, so nothing one leaves in a namespace touches another):
//   - no policy;
//   - a pass-everything tc program on both hooks of every pod interface, attached the way
//     polnode attaches (tcx links where the kernel has them, else clsact filters): the floor of
//     any tc datapath; and polc's programs with the generation word "open" (each defers to
//     a pass-everything program): polc's fixed cost, split;
//   - polc enforcing a generated policy set of 10, 1,000 and 10,000 rules (`polc compile` +
//     `polnode apply`);
//   - the same rules as linear iptables chains, with iptables-legacy and with iptables-nft, in
//     the FORWARD chain of the node's namespace (Calico / kube-router style: one chain for the
//     destination pod, one rule per (peer, port), the rule allowing the client last, then DROP,
//     and no conntrack shortcut, so every client -> server packet walks every rule).
// Measured: TCP request/response transactions per second (one byte each way on one connection,
// TCP_NODELAY; a client and servers in this process, pinned to one CPU) in short slices that
// rotate over the configurations, each slice's ratio taken against no policy's slice of the same
// cycle; and bulk throughput (iperf3, one stream, 1 s runs, rotating likewise). Every enforcing
// configuration is checked to be in force before and after: a port no rule allows is dropped.
// Needs root (namespaces, BPF, iptables); touches nothing outside the labs' namespaces.
//
//   polc_lab_bench [--rules 10,1000,10000] [--rr-seconds 6] [--slice 0.2] [--bulk-rounds 5]
//                  [--no-iptables] [--smoke]
//
// The generated rules: rule i allows one peer, an ipBlock outside the cluster (a /32, /24 or
// /16, cycling), on one TCP or UDP port or a port range; none matches the client. The last rule
// allows app=client on the two benchmark ports. polc's verdict per packet is a fixed number of
// map lookups whatever the number of rules (docs/datapath.md); an iptables chain is a list.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "polc/runtime/datapath.h"
#include "polc/runtime/handles.h"
#include "polc/runtime/lab.h"
#include "polc/runtime/probe.h"

namespace {

using namespace polc::runtime;
using Clock = std::chrono::steady_clock;

constexpr uint16_t kRrPort = 7000;
constexpr uint16_t kBulkPort = 5201;
constexpr uint16_t kDeniedPort = 7001;  // served, allowed by no rule
const char* const kClientIp = "10.10.1.10";
const char* const kServerIp = "10.10.1.20";

std::atomic<bool> g_stop{false};

// ---------------------------------------------------------------------------------------------
// Processes

struct Output {
  int rc = -1;
  std::string out;  ///< stdout and stderr
};

/// Runs argv (in `ns` when given) and waits; `input` is fed to stdin when given.
Output run(const std::vector<std::string>& argv, const Netns* ns = nullptr, const std::string* input = nullptr) {
  int out[2], in[2];
  if (::pipe(out) < 0 || ::pipe(in) < 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::close(in[1]);
    ::close(out[0]);
    if (ns && ::setns(ns->fd(), CLONE_NEWNET) < 0) ::_exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  if (input) {
    size_t off = 0;
    while (off < input->size()) {
      ssize_t n = ::write(in[1], input->data() + off, input->size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  }
  ::close(in[1]);
  Output r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(out[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<size_t>(n));
  ::close(out[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

/// A background process in a namespace, killed on destruction.
class Child {
 public:
  Child(const std::vector<std::string>& argv, const Netns& ns) {
    pid_ = ::fork();
    if (pid_ == 0) {
      int devnull = ::open("/dev/null", O_RDWR);
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      if (::setns(ns.fd(), CLONE_NEWNET) < 0) ::_exit(126);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Child() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

 private:
  pid_t pid_ = -1;
};

bool executable(const std::string& path) {
  return ::access(path.c_str(), X_OK) == 0;
}

std::optional<std::string> find_program(const std::string& name) {
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"})
    if (executable(std::string(dir) + "/" + name)) return std::string(dir) + "/" + name;
  return std::nullopt;
}

/// Two CPUs the process may run on, to pin the traffic's threads, so that no lab's connection is
/// favoured by where the scheduler happened to put them (a ping-pong within one CPU and across
/// two differ by far more than a datapath does): the RR client and every RR server run on the
/// first (no wakeup across CPUs: the datapath's share of a transaction is the most visible),
/// iperf3's client on the first and its server on the second. None when the process has one CPU.
std::optional<std::pair<int, int>> two_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return std::nullopt;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c)
    if (CPU_ISSET(c, &set)) cpus.push_back(c);
  if (cpus.size() < 2) return std::nullopt;
  return std::pair{cpus[0], cpus[1]};
}

void pin_this_thread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  (void)::pthread_setaffinity_np(::pthread_self(), sizeof set, &set);
}

const std::optional<std::pair<int, int>> kCpus = two_cpus();

// ---------------------------------------------------------------------------------------------
// The generated inventory, policies and iptables rules

std::string inventory_yaml() {
  std::ostringstream y;
  y << "apiVersion: v1\nkind: Namespace\nmetadata: {name: bench}\n---\n"
    << "apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: bench, labels: {app: client}}\n"
    << "spec: {containers: [{name: c, image: bench}]}\nstatus: {podIP: " << kClientIp << "}\n---\n"
    << "apiVersion: v1\nkind: Pod\nmetadata: {name: server, namespace: bench, labels: {app: server}}\n"
    << "spec: {containers: [{name: s, image: bench, ports: [{name: rr, containerPort: " << kRrPort
    << "}, {name: bulk, containerPort: " << kBulkPort << "}]}]}\nstatus: {podIP: " << kServerIp << "}\n";
  return y.str();
}

/// Generated rule i (< rules - 1): one ipBlock peer outside the cluster, one port or range.
struct GenRule {
  std::string cidr;
  bool udp = false;
  uint16_t port = 0, end_port = 0;  ///< end_port 0: a single port
};

GenRule gen_rule(size_t i) {
  GenRule r;
  auto dotted = [](uint32_t a) {
    return std::to_string(a >> 24) + "." + std::to_string((a >> 16) & 255) + "." + std::to_string((a >> 8) & 255) +
           "." + std::to_string(a & 255);
  };
  auto k = static_cast<uint32_t>(i / 3);
  switch (i % 3) {
    case 0: r.cidr = dotted((172u << 24 | 16u << 16) + k) + "/32"; break;         // 172.16.0.0/12 hosts
    case 1: r.cidr = dotted((100u << 24 | 64u << 16) + (k << 8)) + "/24"; break;  // 100.64.0.0/10 subnets
    default: r.cidr = dotted((11u << 24) + (k << 16)) + "/16"; break;             // 11.0.0.0/8 and up
  }
  r.udp = i % 5 == 4;
  r.port = static_cast<uint16_t>(1024 + (i * 37) % 40000);
  if (i % 4 == 3) r.end_port = static_cast<uint16_t>(r.port + 99);
  // Keep clear of the benchmark ports, so that the client's packets match no generated rule
  // even by port.
  if (r.port <= kDeniedPort && r.port + 99 >= kRrPort) r.port = static_cast<uint16_t>(r.port + 200);
  if (r.port <= kBulkPort && r.port + 99 >= kBulkPort) r.port = static_cast<uint16_t>(r.port + 200);
  if (r.end_port) r.end_port = static_cast<uint16_t>(r.port + 99);
  return r;
}

/// `rules` NetworkPolicy ingress rules selecting the server, 100 per policy; the last one allows
/// the client on the benchmark ports.
std::string policies_yaml(size_t rules) {
  std::ostringstream y;
  size_t per = 100;
  for (size_t first = 0, p = 0; first < rules; first += per, ++p) {
    y << "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bench-" << p
      << ", namespace: bench}\nspec:\n  podSelector: {matchLabels: {app: server}}\n  policyTypes: [Ingress]\n"
      << "  ingress:\n";
    for (size_t i = first; i < std::min(rules, first + per); ++i) {
      if (i + 1 == rules) {
        y << "    - from: [{podSelector: {matchLabels: {app: client}}}]\n      ports: [{protocol: TCP, port: "
          << kRrPort << "}, {protocol: TCP, port: " << kBulkPort << "}]\n";
        continue;
      }
      GenRule r = gen_rule(i);
      y << "    - from: [{ipBlock: {cidr: " << r.cidr << "}}]\n      ports: [{protocol: " << (r.udp ? "UDP" : "TCP")
        << ", port: " << r.port;
      if (r.end_port) y << ", endPort: " << r.end_port;
      y << "}]\n";
    }
  }
  return y.str();
}

/// The same rules for iptables-restore: a chain for the server's ingress, walked by every packet
/// to the server.
std::string iptables_rules(size_t rules) {
  std::ostringstream s;
  s << "*filter\n:POLC-BENCH - [0:0]\n-A FORWARD -d " << kServerIp << "/32 -j POLC-BENCH\n";
  for (size_t i = 0; i + 1 < rules; ++i) {
    GenRule r = gen_rule(i);
    const char* proto = r.udp ? "udp" : "tcp";
    s << "-A POLC-BENCH -s " << r.cidr << " -p " << proto << " -m " << proto << " --dport " << r.port;
    if (r.end_port) s << ":" << r.end_port;
    s << " -j ACCEPT\n";
  }
  s << "-A POLC-BENCH -s " << kClientIp << "/32 -p tcp -m multiport --dports " << kRrPort << "," << kBulkPort
    << " -j ACCEPT\n-A POLC-BENCH -j DROP\nCOMMIT\n";
  return s.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
}

// ---------------------------------------------------------------------------------------------
// Measurements

/// One TCP connection from the client pod to a one-byte echo server in the server pod, kept open
/// for the whole run: request/response transactions are measured in slices on it.
class RrConnection {
 public:
  RrConnection(const Netns& client, const Netns& server) {
    auto ls = socket_in(server, AF_INET, SOCK_STREAM);
    if (!ls) {
      error_ = ls.error().message;
      return;
    }
    listen_ = std::move(*ls);
    int one = 1;
    timeval tv{3, 0};
    ::setsockopt(listen_.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(listen_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);  // bounds accept()
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(kRrPort);
    if (::bind(listen_.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0 || ::listen(listen_.get(), 4) < 0) {
      error_ = std::string("rr server: ") + std::strerror(errno);
      return;
    }
    server_ = std::thread([this, one] {
      if (kCpus) pin_this_thread(kCpus->first);
      int c = ::accept(listen_.get(), nullptr, nullptr);
      if (c < 0) return;
      Fd conn(c);
      ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      timeval forever{0, 0};  // the accepted socket inherits the listener's timeout; it idles between slices
      ::setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &forever, sizeof forever);
      char b;
      while (::recv(c, &b, 1, 0) == 1)
        if (::send(c, &b, 1, MSG_NOSIGNAL) != 1) break;
    });
    auto cs = socket_in(client, AF_INET, SOCK_STREAM);
    if (!cs) {
      error_ = cs.error().message;
      return;
    }
    client_ = std::move(*cs);
    ::setsockopt(client_.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(client_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(client_.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect() too
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(kRrPort);
    to.sin_addr.s_addr = htonl(*parse_ipv4(kServerIp));
    if (::connect(client_.get(), reinterpret_cast<sockaddr*>(&to), sizeof to) < 0) {
      error_ = std::string("rr connect: ") + std::strerror(errno);
      client_ = Fd();
    }
  }
  ~RrConnection() {
    client_ = Fd();  // the server sees EOF (or its accept times out)
    if (server_.joinable()) server_.join();
  }
  RrConnection(const RrConnection&) = delete;
  RrConnection& operator=(const RrConnection&) = delete;

  [[nodiscard]] const std::string& error() const { return error_; }
  /// Transactions per second over `seconds`; nullopt (and error()) when a transaction fails.
  std::optional<double> measure(double seconds) {
    uint64_t n = 0;
    char b = 'x';
    auto t0 = Clock::now();
    auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    Clock::time_point now = t0;
    while (now < end) {
      if (::send(client_.get(), &b, 1, MSG_NOSIGNAL) != 1 || ::recv(client_.get(), &b, 1, 0) != 1) {
        error_ = std::string("rr transaction: ") + std::strerror(errno);
        return std::nullopt;
      }
      ++n;
      now = Clock::now();
    }
    return static_cast<double>(n) / std::chrono::duration<double>(now - t0).count();
  }

 private:
  Fd listen_, client_;
  std::thread server_;
  std::string error_;
};

/// One iperf3 run of one stream for `seconds` (whole, at least 1): received bits per second.
std::optional<double> iperf3_run(const std::string& iperf3, const Netns& client, int seconds, std::string* err) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    std::vector<std::string> argv{
        iperf3, "-c", kServerIp, "-p", std::to_string(kBulkPort), "-t", std::to_string(seconds), "-J"};
    if (kCpus)  // client on the first CPU, server on the second, as for RR
      argv.insert(argv.end(), {"-A", std::to_string(kCpus->first) + "," + std::to_string(kCpus->second)});
    auto r = run(argv, &client);
    try {
      auto j = nlohmann::json::parse(r.out);
      if (j.contains("error")) {  // the server is not listening yet
        *err = j["error"].get<std::string>();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      return j.at("end").at("sum_received").at("bits_per_second").get<double>();
    } catch (const std::exception& e) {
      *err = std::string("iperf3 output: ") + e.what() + ": " + r.out.substr(0, 200);
      return std::nullopt;
    }
  }
  return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Configurations

/// TcPass and PolcOpen decompose polc's fixed cost: a pass-everything program attached directly
/// to both hooks of every pod interface (the floor of any tc datapath), and polc's attached
/// programs with the generation word set to the open slots (the generation check, then a tail
/// call into a pass-everything program; no policy is judged).
enum class Kind { None, TcPass, PolcOpen, Polc, Legacy, Nft };

struct Config {
  Kind kind = Kind::None;
  size_t rules = 0;
  std::string dir;  ///< the generated inputs (polc: DIR/out is the compiled output)
  [[nodiscard]] std::string name() const {
    switch (kind) {
      case Kind::None: return "no policy";
      case Kind::TcPass: return "tc pass program";
      case Kind::PolcOpen: return "polc, word open";
      case Kind::Polc: return "polc";
      case Kind::Legacy: return "iptables-legacy";
      case Kind::Nft: return "iptables-nft";
    }
    return "?";
  }
  [[nodiscard]] bool enforces() const { return kind == Kind::Polc || kind == Kind::Legacy || kind == Kind::Nft; }
  [[nodiscard]] std::string label() const {
    return enforces() ? name() + " " + std::to_string(rules) + " rules" : name();
  }
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

struct Options {
  std::vector<size_t> rules{10, 1000, 10000};
  double rr_seconds = 6;  ///< per configuration, in slices
  double slice = 0.2;     ///< seconds per RR slice
  int bulk_rounds = 5;    ///< iperf3 runs of 1 s per configuration
  bool iptables = true;
};

/// A lab holding one configuration for the whole run: its own namespaces, so no configuration
/// leaves anything for another (an iptables-legacy table, once made, stays hooked in its
/// namespace until the namespace goes). Down on destruction.
class Lab {
 public:
  explicit Lab(std::string name) : name_(std::move(name)) {}
  ~Lab() {
    rr_.reset();
    iperf3_.reset();
    servers_.clear();
    ns_.clear();
    auto st = lab_down(name_);
    if (!st.ok()) std::cerr << "lab down " << name_ << ": " << st.error().message << "\n";
  }
  Lab(const Lab&) = delete;
  Lab& operator=(const Lab&) = delete;

  /// Builds the lab from `inventory`, opens the client, server and node namespaces and serves
  /// the denied port on the server. Empty on success, else why not.
  std::string up(const std::string& polnode, const std::string& inventory) {
    auto up = run({polnode, "lab", "up", inventory, "--name", name_});
    if (up.rc != 0) return "polnode lab up: " + up.out;
    auto state = load_lab_state(name_);
    if (!state) return state.error().message;
    for (const auto& p : state->pods) {
      auto ns = Netns::open(p.netns);
      if (!ns) return ns.error().message;
      ns_.emplace(p.pod.name, std::move(*ns));
    }
    auto node_ns = Netns::open(state->nodes.at(0).netns);
    if (!node_ns) return node_ns.error().message;
    ns_.emplace("node", std::move(*node_ns));
    // The denied port is served, so that a drop is a policy drop and not a refusal.
    auto srv = ProbeServer::start({{kDeniedPort}, {}, {}, "server"}, &ns_.at("server"));
    if (!srv) return srv.error().message;
    servers_.push_back(std::move(*srv));
    return {};
  }
  /// Opens the RR connection and starts iperf3's server (when given). Empty on success.
  std::string start_traffic(const std::optional<std::string>& iperf3) {
    rr_ = std::make_unique<RrConnection>(ns("client"), ns("server"));
    if (!rr_->error().empty()) return rr_->error();
    if (iperf3)
      iperf3_ = std::make_unique<Child>(std::vector<std::string>{*iperf3, "-s", "-p", std::to_string(kBulkPort)},
                                        ns("server"));
    return {};
  }
  [[nodiscard]] const Netns& ns(const std::string& which) const { return ns_.at(which); }
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] RrConnection& rr() { return *rr_; }

  /// Attaches a pass-everything program to both tc hooks of every pod's node-side interface.
  std::string attach_pass_programs() {
    auto state = load_lab_state(name_);
    if (!state) return state.error().message;
    auto links = list_links(ns("node"));
    if (!links) return links.error().message;
    auto prog = load_tc_verdict_program(true, "bench_pass");
    if (!prog) return prog.error().message;
    for (const auto& p : state->pods)
      for (const auto& l : *links)
        if (l.name == p.host_if && TcxLink::supported()) {  // the hook polnode uses
          for (TcDirection d : {TcDirection::Ingress, TcDirection::Egress}) {
            auto a = TcxLink::attach(ns("node"), l.ifindex, d, prog->get());
            if (!a) return a.error().message;
            links_.push_back(std::move(*a));
          }
        } else if (l.name == p.host_if) {
          auto q = Qdisc::create_clsact(ns("node"), l.ifindex);
          if (!q) return q.error().message;
          qdiscs_.push_back(std::move(*q));
          for (TcDirection d : {TcDirection::Ingress, TcDirection::Egress}) {
            auto a = TcAttachment::attach(ns("node"), l.ifindex, d, prog->get());
            if (!a) return a.error().message;
            filters_.push_back(std::move(*a));
          }
        }
    if (filters_.size() + links_.size() != 2 * state->pods.size()) return "not every pod interface was found";
    pass_prog_ = std::move(*prog);
    return {};
  }

 private:
  std::string name_;
  std::map<std::string, Netns> ns_;
  std::vector<ProbeServer> servers_;
  std::unique_ptr<RrConnection> rr_;
  std::unique_ptr<Child> iperf3_;
  std::vector<Qdisc> qdiscs_;  // destroyed after the filters on them
  std::vector<TcAttachment> filters_;
  std::vector<TcxLink> links_;
  Fd pass_prog_;
};

struct Results {
  uint64_t rr_slices = 0;
  double rr_sum = 0;                     ///< sum of slice rates
  std::vector<double> rr_ratio;          ///< per cycle: this slice's rate / no policy's in the cycle
  std::vector<double> bulk, bulk_ratio;  ///< per round
};

class Bench {
 public:
  Bench(std::string lab, std::string dir, Options opt) : lab_(std::move(lab)), dir_(std::move(dir)), opt_(opt) {}
  ~Bench() {
    labs_.clear();
    (void)run({"/bin/rm", "-rf", dir_});
  }
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  int main() {
    const std::string bin = POLC_BINARY_DIR;
    polc_ = bin + "/tools/polc/polc";
    polnode_ = bin + "/tools/polnode/polnode";
    iperf3_ = opt_.bulk_rounds > 0 ? find_program("iperf3") : std::nullopt;
    legacy_ = find_program("iptables-legacy-restore").value_or("");
    nft_ = find_program("iptables-nft-restore").value_or("");
    if (opt_.bulk_rounds > 0 && !iperf3_)
      std::cerr << "iperf3 not found (scripts/setup.sh installs it): no bulk numbers\n";
    if (opt_.iptables && (legacy_.empty() || nft_.empty())) {
      std::cerr << "iptables-legacy-restore / iptables-nft-restore not found (Debian package iptables)\n";
      return 2;
    }

    inventory_ = dir_ + "/inventory.yaml";
    write_file(inventory_, inventory_yaml());
    std::vector<Config> configs{{Kind::None, 0, ""}, {Kind::TcPass, 0, ""}};
    for (size_t n : opt_.rules) {
      std::string d = dir_ + "/rules-" + std::to_string(n);
      ::mkdir(d.c_str(), 0755);
      write_file(d + "/inventory.yaml", inventory_yaml());
      write_file(d + "/policies.yaml", policies_yaml(n));
      write_file(d + "/iptables.rules", iptables_rules(n));
      auto t0 = Clock::now();
      auto c = run({polc_, "compile", d, "-o", d + "/out", "--quiet"});
      if (c.rc != 0) return fail("polc compile (" + std::to_string(n) + " rules): " + c.out);
      std::cerr << "polc compile: " << n << " rules in " << std::chrono::duration<double>(Clock::now() - t0).count()
                << " s\n";
      configs.push_back({Kind::Polc, n, d});
    }
    configs.insert(configs.begin() + 2, {Kind::PolcOpen, 0, configs[2].dir});
    if (opt_.iptables)
      for (Kind k : {Kind::Legacy, Kind::Nft})
        for (size_t n : opt_.rules) configs.push_back({k, n, dir_ + "/rules-" + std::to_string(n)});

    // Every configuration gets its own lab, all up at once.
    for (size_t i = 0; i < configs.size(); ++i) {
      labs_.push_back(std::make_unique<Lab>(lab_ + "x" + std::to_string(i)));
      Lab& lab = *labs_.back();
      if (auto err = lab.up(polnode_, inventory_); !err.empty()) return fail(err);
      if (int rc = enter(lab, configs[i]); rc != 0) return rc;
      if (auto err = lab.start_traffic(iperf3_); !err.empty()) return fail(configs[i].label() + ": " + err);
    }
    std::cerr << configs.size() << " labs up, each holding one configuration\n";

    if (kCpus) pin_this_thread(kCpus->first);  // the RR client
    // TCP RR: cycles of one short slice per configuration, in a rotating order; each slice's
    // ratio is against no policy's slice of the same cycle, so that the machine's changing load
    // (other work on it) affects both sides of every ratio alike.
    std::vector<Results> res(configs.size());
    int cycles = std::max(1, static_cast<int>(opt_.rr_seconds / opt_.slice + 0.5));
    for (int c = 0; c < cycles && !g_stop; ++c) {
      std::vector<double> rate(configs.size());
      for (size_t k = 0; k < configs.size(); ++k) {
        size_t i = (k + static_cast<size_t>(c)) % configs.size();
        auto r = labs_[i]->rr().measure(opt_.slice);
        if (!r) return fail(configs[i].label() + ": " + labs_[i]->rr().error());
        rate[i] = *r;
        res[i].rr_sum += *r;
        ++res[i].rr_slices;
      }
      for (size_t i = 1; i < configs.size(); ++i) res[i].rr_ratio.push_back(rate[i] / rate[0]);
    }
    // Bulk: rounds of one 1 s iperf3 run per configuration, rotating likewise.
    for (int round = 0; iperf3_ && round < opt_.bulk_rounds && !g_stop; ++round) {
      std::vector<double> bps(configs.size());
      for (size_t k = 0; k < configs.size(); ++k) {
        size_t i = (k + static_cast<size_t>(round)) % configs.size();
        std::string err;
        auto b = iperf3_run(*iperf3_, labs_[i]->ns("client"), 1, &err);
        if (!b) return fail(configs[i].label() + " iperf3: " + err);
        bps[i] = *b;
        res[i].bulk.push_back(*b);
      }
      for (size_t i = 1; i < configs.size(); ++i) res[i].bulk_ratio.push_back(bps[i] / bps[0]);
    }
    if (g_stop) return fail("interrupted");
    // Still in force at the end?
    for (size_t i = 0; i < configs.size(); ++i)
      if (int rc = check_in_force(*labs_[i], configs[i]); rc != 0) return rc;
    print_table(configs, res, cycles);
    return 0;
  }

 private:
  static int fail(const std::string& why) {
    std::cerr << "polc_lab_bench: " << why << "\n";
    return 1;
  }

  /// Puts the configuration in force and checks it.
  int enter(Lab& lab, const Config& c) {
    switch (c.kind) {
      case Kind::None: break;
      case Kind::TcPass:
        if (auto err = lab.attach_pass_programs(); !err.empty()) return fail(c.label() + ": " + err);
        break;
      case Kind::PolcOpen:
      case Kind::Polc: {
        auto r = run({polnode_, "apply", c.dir + "/out", "--name", lab.name()});
        if (r.rc != 0) return fail("polnode apply: " + r.out);
        if (c.kind == Kind::PolcOpen) {  // the generation word back to "open": no policy judged
          std::string pin = datapath_pin_dir(lab.name()) + "/gen";
          Fd gen(::bpf_obj_get(pin.c_str()));
          uint32_t key = 0, open = 2;  // runtime/src/dispatcher.h kOpen
          if (!gen.valid() || ::bpf_map_update_elem(gen.get(), &key, &open, BPF_ANY) != 0)
            return fail("setting " + pin + " to open: " + std::strerror(errno));
        }
        break;
      }
      case Kind::Legacy:
      case Kind::Nft: {
        const std::string& restore = c.kind == Kind::Legacy ? legacy_ : nft_;
        auto r = run({restore, c.dir + "/iptables.rules"}, &lab.ns("node"));
        if (r.rc != 0) return fail(restore + ": " + r.out);
        break;
      }
    }
    return check_in_force(lab, c);
  }

  /// Under a policy a port no rule allows is dropped; without one it connects. (The benchmark
  /// ports are checked by measuring.)
  int check_in_force(const Lab& lab, const Config& c) {
    ProbeOptions o;
    o.netns = &lab.ns("client");
    o.timeout_ms = 300;
    auto denied = tcp_connect({*parse_ipv4(kServerIp), kDeniedPort}, o);
    bool want_drop = c.enforces();
    if (want_drop ? denied.outcome != ProbeOutcome::Timeout : !denied.ok())
      return fail(c.label() + ": port " + std::to_string(kDeniedPort) + " should be " +
                  (want_drop ? "dropped" : "open") + ", got " + probe_outcome_name(denied.outcome));
    return 0;
  }

  void print_table(const std::vector<Config>& configs, const std::vector<Results>& res, int cycles) const {
    std::printf(
        "\nclient pod -> server pod on one node, one lab per configuration, all up at once.\n"
        "TCP RR: one-byte request/response on one connection, %d cycles of one %.2f s slice per configuration;\n"
        "  rate = mean over slices, ratio = median over cycles of (slice rate / no policy's in the same cycle).\n"
        "Bulk: iperf3, one stream, %d run(s) of 1 s per configuration; median (min-max), ratio likewise per round.\n\n",
        cycles, opt_.slice, iperf3_ ? opt_.bulk_rounds : 0);
    std::printf("%-16s %6s  %14s %7s   %-20s %7s\n", "datapath", "rules", "TCP RR trans/s", "ratio", "bulk Gbit/s",
                "ratio");
    for (size_t i = 0; i < configs.size(); ++i) {
      const Results& r = res[i];
      bool base = i == 0;
      char rr[32], rr_ratio[16] = "1.00x", bulk[64] = "-", bulk_ratio[16] = "-";
      std::snprintf(rr, sizeof rr, "%.0f", r.rr_slices ? r.rr_sum / static_cast<double>(r.rr_slices) : 0.0);
      if (!base) std::snprintf(rr_ratio, sizeof rr_ratio, "%.2fx", median(r.rr_ratio));
      if (!r.bulk.empty()) {
        std::snprintf(bulk, sizeof bulk, "%.2f (%.2f-%.2f)", median(r.bulk) / 1e9,
                      *std::min_element(r.bulk.begin(), r.bulk.end()) / 1e9,
                      *std::max_element(r.bulk.begin(), r.bulk.end()) / 1e9);
        std::snprintf(bulk_ratio, sizeof bulk_ratio, "%.2fx", base ? 1.0 : median(r.bulk_ratio));
      }
      std::string rules = configs[i].enforces() ? std::to_string(configs[i].rules) : "-";
      std::printf("%-16s %6s  %14s %7s   %-20s %7s\n", configs[i].name().c_str(), rules.c_str(), rr, rr_ratio, bulk,
                  bulk_ratio);
    }
    std::fflush(stdout);
  }

  std::string lab_, dir_;
  Options opt_;
  std::string polc_, polnode_, legacy_, nft_, inventory_;
  std::optional<std::string> iperf3_;
  std::vector<std::unique_ptr<Lab>> labs_;
};

void on_signal(int) {
  g_stop = true;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  auto usage = [] {
    std::cerr << "usage: polc_lab_bench [--rules 10,1000,10000] [--rr-seconds 6] [--slice 0.2] [--bulk-rounds 5]\n"
                 "                      [--no-iptables] [--smoke]\n";
    return 2;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    try {
      if (a == "--rules" && has_value) {
        opt.rules.clear();
        std::stringstream ss(argv[++i]);
        for (std::string item; std::getline(ss, item, ',');) opt.rules.push_back(std::stoul(item));
      } else if (a == "--rr-seconds" && has_value) {
        opt.rr_seconds = std::stod(argv[++i]);
      } else if (a == "--slice" && has_value) {
        opt.slice = std::stod(argv[++i]);
      } else if (a == "--bulk-rounds" && has_value) {
        opt.bulk_rounds = std::stoi(argv[++i]);
      } else if (a == "--no-iptables") {
        opt.iptables = false;
      } else if (a == "--smoke") {  // ctest: every configuration is in force and carries traffic
        opt.rules = {10};
        opt.rr_seconds = 0.2;
        opt.slice = 0.1;
        opt.bulk_rounds = 0;
      } else {
        return usage();
      }
    } catch (const std::exception&) {
      return usage();
    }
  }
  if (opt.rules.empty() || opt.rr_seconds <= 0 || opt.slice <= 0 || opt.bulk_rounds < 0) return usage();
  for (size_t n : opt.rules)
    if (n < 1) return usage();
  if (::geteuid() != 0) {
    std::cerr << "polc_lab_bench needs root (network namespaces, BPF, iptables)\n";
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  char tmpl[] = "/tmp/polc-lab-bench-XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  std::string lab = "bn" + std::to_string(::getpid() % 1000000);
  std::cerr << "labs " << lab << "x0, " << lab << "x1, ... (if this is killed hard: polnode lab down --name each)\n";
  Bench b(lab, tmpl, opt);
  return b.main();
}
