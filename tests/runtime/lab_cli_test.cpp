// `polnode lab` end to end on samples/demo: up over two nodes, every pod pair over TCP and UDP
// with no policy loaded, status, exec, down, and cleanup after crashes.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "lab_test_util.h"
#include "polc/runtime/lab.h"

namespace polc::runtime {
namespace {

using testing::LabGuard;
using testing::leftovers;
using testing::polnode;
using testing::run;
using testing::unique_lab;

const std::string kDemo = std::string(POLC_SOURCE_DIR) + "/samples/demo";

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

TEST(LabCli, DemoOnTwoNodesEveryPodReachesEveryPod) {
  LabGuard guard(unique_lab("rtdemo"));
  auto up = run({polnode(), "lab", "up", kDemo, "--nodes", "2", "--name", guard.name()});
  ASSERT_EQ(up.rc, 0) << up.out;
  EXPECT_TRUE(contains(up.out, "2 nodes, 6 pods")) << up.out;

  auto s = load_lab_state(guard.name());
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->nodes.size(), 2u);
  for (const auto& n : s->nodes) {
    bool has_pod = false;
    for (const auto& p : s->pods) has_pod |= p.pod.node == n.node.name;
    EXPECT_TRUE(has_pod) << "--nodes 2 should use " << n.node.name;
  }
  // Pod IPs come from the inventory model: stable, in the pod CIDR.
  for (const auto& p : s->pods) EXPECT_EQ(p.pod.ip >> 16, (10u << 8) | 10u) << p.pod.full_name();

  auto rep = testing::probe_all_pairs(*s);
  EXPECT_TRUE(rep.failures.empty()) << rep.failures.size() << " failures, first: " << rep.failures.front();
  EXPECT_GT(rep.same_node, 0);
  EXPECT_GT(rep.cross_node, 0);
  EXPECT_EQ(rep.probes, 6 * 6 * 2) << "6 sources x 6 destinations (one port number each) x TCP/UDP";

  // status: text lists every pod; json parses and says healthy.
  auto st = run({polnode(), "lab", "status", "--name", guard.name()});
  EXPECT_EQ(st.rc, 0) << st.out;
  for (const auto& p : s->pods) {
    EXPECT_TRUE(contains(st.out, p.pod.full_name())) << st.out;
    EXPECT_TRUE(contains(st.out, ipv4_str(p.pod.ip))) << st.out;
  }
  EXPECT_TRUE(contains(st.out, "kube-system/kube-dns")) << st.out;
  auto js = run({polnode(), "lab", "status", "--name", guard.name(), "--format", "json"});
  ASSERT_EQ(js.rc, 0) << js.out;
  auto j = nlohmann::json::parse(js.out);
  EXPECT_TRUE(j["healthy"].get<bool>());
  EXPECT_EQ(j["live"]["pods"].size(), 6u);

  // exec: a workload means its first replica; exit codes come back; probes work from inside.
  auto who =
      run({polnode(), "lab", "exec", "--name", guard.name(), "frontend", "--", "/bin/sh", "-c", "echo $POLNODE_POD"});
  EXPECT_EQ(who.rc, 0) << who.out;
  EXPECT_EQ(who.out, "default/frontend-0\n");
  auto code =
      run({polnode(), "lab", "exec", "--name", guard.name(), "default/database-0", "--", "/bin/sh", "-c", "exit 7"});
  EXPECT_EQ(code.rc, 7) << code.out;
  auto unknown = run({polnode(), "lab", "exec", "--name", guard.name(), "nosuchpod", "--", "true"});
  EXPECT_EQ(unknown.rc, 2) << unknown.out;
  EXPECT_TRUE(contains(unknown.out, "no pod, workload or node named 'nosuchpod'")) << unknown.out;

  const LabPodState* db = nullptr;
  for (const auto& p : s->pods)
    if (p.pod.name == "database-0") db = &p;
  ASSERT_NE(db, nullptr);
  std::string db_addr = ipv4_str(db->pod.ip);
  // A server started with lab exec in the background, reached by a client started with lab exec.
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t server = ::fork();
  ASSERT_GE(server, 0);
  if (server == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::execl(polnode().c_str(), "polnode", "lab", "exec", "--name", guard.name().c_str(), "database", "--",
            polnode().c_str(), "probe", "serve", "--tcp", "5432", "--http", "8080", "--udp", "5432", "--id", "db",
            nullptr);
    ::_exit(127);
  }
  ::close(fds[1]);
  char line[128] = {};
  ASSERT_GT(::read(fds[0], line, sizeof line - 1), 0) << "server did not start";
  EXPECT_TRUE(contains(line, "serving tcp:5432")) << line;
  auto tcp = run({polnode(), "lab", "exec", "--name", guard.name(), "backend", "--", polnode(), "probe", "tcp",
                  db_addr + ":5432", "--read"});
  EXPECT_EQ(tcp.rc, 0) << tcp.out;
  EXPECT_TRUE(contains(tcp.out, "db")) << tcp.out;
  auto udp = run({polnode(), "lab", "exec", "--name", guard.name(), "frontend-1", "--", polnode(), "probe", "udp",
                  db_addr + ":5432", "--payload", "q"});
  EXPECT_EQ(udp.rc, 0) << udp.out;
  auto http = run({polnode(), "lab", "exec", "--name", guard.name(), "coredns", "--", polnode(), "probe", "http",
                   db_addr + ":8080", "-X", "PUT", "--path", "/x/y"});
  EXPECT_EQ(http.rc, 0) << http.out;
  EXPECT_TRUE(contains(http.out, "db PUT /x/y")) << http.out;
  auto refused = run({polnode(), "lab", "exec", "--name", guard.name(), "backend", "--", polnode(), "probe", "tcp",
                      db_addr + ":5433", "--timeout-ms", "500"});
  EXPECT_EQ(refused.rc, 1) << refused.out;
  EXPECT_TRUE(contains(refused.out, "refused")) << refused.out;
  ::kill(server, SIGTERM);  // the outer polnode; lab down below ends the server inside the pod
  int status = 0;
  ::close(fds[0]);

  // down: removes everything, including the process still serving in the pod.
  auto down = run({polnode(), "lab", "down", "--name", guard.name()});
  EXPECT_EQ(down.rc, 0) << down.out;
  EXPECT_TRUE(contains(down.out, "removed 9 namespaces")) << down.out;
  ::waitpid(server, &status, 0);
  EXPECT_TRUE(leftovers(guard.name()).empty());
  auto again = run({polnode(), "lab", "down", "--name", guard.name()});
  EXPECT_EQ(again.rc, 0) << again.out;
  auto gone = run({polnode(), "lab", "status", "--name", guard.name()});
  EXPECT_NE(gone.rc, 0);
  EXPECT_TRUE(contains(gone.out, "no lab named")) << gone.out;
}

TEST(LabCli, DownCleansUpAfterStateIsLost) {
  LabGuard guard(unique_lab("rtlost"));
  auto up = run({polnode(), "lab", "up", kDemo, "--name", guard.name()});
  ASSERT_EQ(up.rc, 0) << up.out;
  // A process left running inside a pod, then the state vanishes (as after a crash and reboot
  // of /run/polnode, or a killed polnode): nothing but the prefix is left to find objects by.
  pid_t sleeper = ::fork();
  ASSERT_GE(sleeper, 0);
  if (sleeper == 0) {
    ::execl(polnode().c_str(), "polnode", "lab", "exec", "--name", guard.name().c_str(), "backend-1", "--",
            "/bin/sleep", "60", nullptr);
    ::_exit(127);
  }
  std::string state_dir = lab_state_dir(guard.name());
  for (int i = 0; i < 500; ++i) {  // until the sleeper is inside its pod
    auto ls = run({"/bin/sh", "-c", "ip netns pids " + lab_prefix(guard.name()) + "p-default.backend-1"});
    if (!ls.out.empty()) break;
    ::usleep(2000);
  }
  ASSERT_EQ(run({"/bin/rm", "-rf", state_dir}).rc, 0);
  auto st = run({polnode(), "lab", "status", "--name", guard.name()});
  EXPECT_NE(st.rc, 0);
  EXPECT_TRUE(contains(st.out, "leftover namespaces exist")) << st.out;
  auto list = run({polnode(), "lab", "list"});
  EXPECT_TRUE(contains(list.out, guard.name() + "  (no state")) << list.out;
  auto again = run({polnode(), "lab", "up", kDemo, "--name", guard.name()});
  EXPECT_NE(again.rc, 0);
  EXPECT_TRUE(contains(again.out, "already exists")) << again.out;

  auto down = run({polnode(), "lab", "down", "--name", guard.name()});
  EXPECT_EQ(down.rc, 0) << down.out;
  EXPECT_TRUE(contains(down.out, "killed 1 processes")) << down.out;
  int status = 0;
  ASSERT_EQ(::waitpid(sleeper, &status, 0), sleeper);
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGKILL) << "lab exec reports the killed command";
  EXPECT_TRUE(leftovers(guard.name()).empty());
}

TEST(LabCli, CrashDuringUpIsCleanedUpByDown) {
  LabGuard guard(unique_lab("rtcrcli"));
  auto up = run({polnode(), "lab", "up", kDemo, "--nodes", "2", "--name", guard.name()},
                {{"POLNODE_TEST_CRASH_AFTER_NETNS", "5"}});
  EXPECT_EQ(up.rc, 128 + SIGABRT) << up.out;
  EXPECT_EQ(list_netns(lab_prefix(guard.name())).size(), 5u);
  auto down = run({polnode(), "lab", "down", "--name", guard.name()});
  EXPECT_EQ(down.rc, 0) << down.out;
  EXPECT_TRUE(contains(down.out, "removed 5 namespaces")) << down.out;
  EXPECT_TRUE(leftovers(guard.name()).empty());
}

TEST(LabCli, UsageErrors) {
  auto bad = run({polnode(), "lab", "up", kDemo, "--name", "Bad-Name"});
  EXPECT_EQ(bad.rc, 2) << bad.out;
  EXPECT_TRUE(contains(bad.out, "invalid lab name")) << bad.out;
  auto missing = run({polnode(), "lab", "up", "/nonexistent/dir", "--name", unique_lab("rtmiss")});
  EXPECT_EQ(missing.rc, 2) << missing.out;
  EXPECT_TRUE(leftovers(unique_lab("rtmiss")).empty());
  auto probe = run({polnode(), "probe", "tcp", "not-an-address"});
  EXPECT_EQ(probe.rc, 2) << probe.out;
}

}  // namespace
}  // namespace polc::runtime
