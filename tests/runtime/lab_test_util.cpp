#include "lab_test_util.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <future>
#include <memory>
#include <set>

#include "polc/runtime/probe.h"

namespace polc::runtime::testing {

RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return {};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  RunResult r;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

std::string polnode() {
  return std::string(POLC_BINARY_DIR) + "/tools/polnode/polnode";
}

std::string polc() {
  if (const char* p = std::getenv("POLC_TEST_POLC")) return p;
  return std::string(POLC_BINARY_DIR) + "/tools/polc/polc";
}

TempDir::TempDir() {
  char tmpl[] = "/tmp/polnode-test-XXXXXX";
  if (::mkdtemp(tmpl)) path_ = tmpl;
}

TempDir::~TempDir() {
  if (!path_.empty()) (void)run({"/bin/rm", "-rf", path_});
}

std::string unique_lab(const std::string& tag) {
  return tag + std::to_string(::getpid() % 1000000);
}

LabGuard::~LabGuard() {
  Status st = lab_down(lab_);
  EXPECT_TRUE(st.ok()) << st.error().message;
  for (const auto& l : leftovers(lab_)) ADD_FAILURE() << "left behind by lab " << lab_ << ": " << l;
}

std::vector<std::string> leftovers(const std::string& lab) {
  std::vector<std::string> out = list_netns(lab_prefix(lab));
  struct stat st {};
  for (const auto& p : {lab_state_dir(lab), "/sys/fs/bpf/polnode/" + lab})
    if (::stat(p.c_str(), &st) == 0) out.push_back(p);
  // The lab never creates anything in the caller's namespace.
  if (auto here = Netns::current()) {
    if (auto links = list_links(*here))
      for (const auto& l : *links)
        if (l.name.rfind("pl", 0) == 0) out.push_back("interface " + l.name + " in the test's namespace");
  }
  return out;
}

PairReport probe_all_pairs(const LabState& s, int timeout_ms) {
  PairReport rep;
  std::map<std::string, Netns> netns;
  std::vector<ProbeServer> servers;
  std::map<const LabPodState*, std::vector<uint16_t>> ports;
  std::map<std::string, std::set<uint16_t>> bound;  // per netns (host-network pods share the node's)
  for (const auto& p : s.pods) {
    if (!netns.count(p.netns)) {
      auto ns = Netns::open(p.netns);
      if (!ns) {
        rep.failures.push_back(ns.error().message);
        return rep;
      }
      netns.emplace(p.netns, std::move(*ns));
    }
    std::set<uint16_t> nums;
    for (const auto& port : p.pod.ports) nums.insert(port.port);
    if (nums.empty()) nums.insert(8000);
    ports[&p] = {nums.begin(), nums.end()};
    std::vector<uint16_t> fresh;
    for (auto n : nums)
      if (bound[p.netns].insert(n).second) fresh.push_back(n);
    if (fresh.empty()) continue;
    auto srv = ProbeServer::start({fresh, fresh, {}, p.pod.full_name()}, &netns.at(p.netns));
    if (!srv) {
      rep.failures.push_back(srv.error().message);
      return rep;
    }
    servers.push_back(std::move(*srv));
  }
  // One task per source pod; each probes every destination.
  std::vector<std::future<PairReport>> tasks;
  for (const auto& src : s.pods) {
    tasks.push_back(std::async(std::launch::async, [&, srcp = &src] {
      PairReport r;
      ProbeOptions o;
      o.netns = &netns.at(srcp->netns);
      o.timeout_ms = timeout_ms;
      for (const auto& dst : s.pods) {
        for (auto port : ports.at(&dst)) {
          bool same = srcp->pod.node == dst.pod.node;
          for (bool tcp : {true, false}) {
            ProbeResult res;
            if (tcp) {
              o.read_reply = true;
              res = tcp_connect({dst.pod.ip, port}, o);
            } else {
              res = udp_exchange({dst.pod.ip, port}, "ping", o);
            }
            ++r.probes;
            ++(same ? r.same_node : r.cross_node);
            // The greeting names the pod that answered: it must be the destination (or, for a
            // host-network destination, some pod in the node's namespace).
            bool right = res.reply.rfind(dst.pod.host_network ? "" : dst.pod.full_name() + "\n", 0) == 0;
            if (!res.ok() || !right)
              r.failures.push_back(srcp->pod.full_name() + " -> " + dst.pod.full_name() + " " + ipv4_str(dst.pod.ip) +
                                   ":" + std::to_string(port) + (tcp ? "/TCP " : "/UDP ") +
                                   probe_outcome_name(res.outcome) + " " + res.detail + " reply '" + res.reply + "'");
          }
        }
      }
      return r;
    }));
  }
  for (auto& t : tasks) {
    auto r = t.get();
    rep.probes += r.probes;
    rep.same_node += r.same_node;
    rep.cross_node += r.cross_node;
    rep.failures.insert(rep.failures.end(), r.failures.begin(), r.failures.end());
  }
  return rep;
}

}  // namespace polc::runtime::testing
