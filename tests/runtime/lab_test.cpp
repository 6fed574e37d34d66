// The lab through the library API, from a hand-written LabSpec (no frontend involved): topology,
// routing same-node and cross-node, rollback on failure, crash cleanup, validation.
#include "polc/runtime/lab.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lab_test_util.h"
#include "polc/runtime/probe.h"

namespace polc::runtime {
namespace {

using testing::LabGuard;
using testing::leftovers;
using testing::unique_lab;

Ipv4Addr ip(const char* s) {
  return *parse_ipv4(s);
}

/// Two nodes, five pods (two per node, one host-network), one service.
LabSpec small_spec(const std::string& name) {
  LabSpec s;
  s.name = name;
  s.source = "lab_test";
  s.nodes = {{"n1", ip("192.168.65.2")}, {"n2", ip("192.168.65.3")}};
  s.pods = {
      {"default", "web-0", "web", 0, ip("10.10.1.10"), "n1", false, {{"http", 80, 6}}},
      {"default", "web-1", "web", 1, ip("10.10.2.20"), "n2", false, {{"http", 80, 6}}},
      {"default", "db-0", "db", 0, ip("10.10.1.30"), "n1", false, {{"pg", 5432, 6}}},
      {"other", "web-0", "client", 0, ip("10.10.2.40"), "n2", false, {}},
      {"kube-system", "agent-0", "agent", 0, ip("192.168.65.3"), "n2", true, {{"", 9100, 6}}},
  };
  LabService svc{"default", "web", "ClusterIP", ip("10.96.0.20"), {}};
  svc.ports.push_back(
      {"http", 6, 80, 0, {{"default/web-0", ip("10.10.1.10"), 80, 1}, {"default/web-1", ip("10.10.2.20"), 80, 1}}});
  s.services.push_back(svc);
  return s;
}

class Lab : public ::testing::Test {};

TEST_F(Lab, BuildsTopologyAndRoutesEveryPair) {
  LabGuard guard(unique_lab("rtlib"));
  auto state = lab_up(small_spec(guard.name()));
  ASSERT_TRUE(state) << state.error().message;

  // One namespace per node and per (non-host-network) pod, plus the underlay.
  auto names = list_netns(lab_prefix(guard.name()));
  EXPECT_EQ(names.size(), 1u + 2u + 4u);
  EXPECT_EQ(state->underlay_netns, lab_prefix(guard.name()) + "ul");
  for (const auto& p : state->pods) {
    if (p.pod.host_network) {
      EXPECT_EQ(p.netns, p.node_netns);
      EXPECT_TRUE(p.host_if.empty());
      continue;
    }
    EXPECT_EQ(p.netns, lab_prefix(guard.name()) + "p-" + p.pod.ns + "." + p.pod.name);
    EXPECT_LE(p.host_if.size(), 15u);
    EXPECT_EQ(p.host_if.rfind("pl", 0), 0u);
    // The pod side: eth0 with the pod's IP and MAC, default route via the link-local gateway.
    auto ns = Netns::open(p.netns);
    ASSERT_TRUE(ns);
    auto links = list_links(*ns);
    ASSERT_TRUE(links);
    bool found = false;
    for (const auto& l : *links)
      if (l.name == "eth0") {
        found = true;
        EXPECT_TRUE(l.up);
        EXPECT_EQ(l.mac, p.pod_mac);
        EXPECT_EQ(l.kind, "veth");
      }
    EXPECT_TRUE(found) << p.pod.full_name();
  }
  // Same name in two namespaces is two pods.
  EXPECT_NE(state->pods[0].netns, state->pods[3].netns);

  // State on disk equals what lab_up returned.
  auto loaded = load_lab_state(guard.name());
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(lab_state_to_json(*loaded), lab_state_to_json(*state));

  auto live = lab_live_status(*loaded);
  EXPECT_TRUE(live.healthy());
  for (const auto& p : live.pods) EXPECT_TRUE(p.programs.empty());

  auto rep = testing::probe_all_pairs(*loaded);
  EXPECT_TRUE(rep.failures.empty()) << rep.failures.size() << " failures, first: " << rep.failures.front();
  EXPECT_GT(rep.same_node, 0);
  EXPECT_GT(rep.cross_node, 0);

  // The node reaches its own pods and remote pods (kubelet-style traffic).
  auto node = Netns::open(state->nodes[0].netns);
  ASSERT_TRUE(node);
  auto web1 = Netns::open(state->pods[1].netns);
  ASSERT_TRUE(web1);
  auto srv = ProbeServer::start({{81}, {}, {}, "x"}, &*web1);
  ASSERT_TRUE(srv);
  ProbeOptions o;
  o.netns = &*node;
  EXPECT_TRUE(tcp_connect({ip("10.10.2.20"), 81}, o).ok());
  // An address nobody has is unreachable, not silently dropped.
  ProbeOptions from_pod;
  auto web0 = Netns::open(state->pods[0].netns);
  ASSERT_TRUE(web0);
  from_pod.netns = &*web0;
  EXPECT_EQ(tcp_connect({ip("10.10.9.9"), 80}, from_pod).outcome, ProbeOutcome::Unreachable);
}

TEST_F(Lab, DownRemovesEverythingAndIsIdempotent) {
  std::string lab = unique_lab("rtdown");
  {
    LabGuard guard(lab);
    auto state = lab_up(small_spec(lab));
    ASSERT_TRUE(state) << state.error().message;
    LabDownReport rep;
    ASSERT_TRUE(lab_down(lab, &rep).ok());
    EXPECT_EQ(rep.netns_removed.size(), 7u);
    EXPECT_TRUE(leftovers(lab).empty());
    LabDownReport again;
    ASSERT_TRUE(lab_down(lab, &again).ok());
    EXPECT_TRUE(again.netns_removed.empty());
    EXPECT_FALSE(load_lab_state(lab));
  }
}

TEST_F(Lab, RefusesToBuildOverAnExistingLab) {
  LabGuard guard(unique_lab("rttwice"));
  auto first = lab_up(small_spec(guard.name()));
  ASSERT_TRUE(first) << first.error().message;
  auto second = lab_up(small_spec(guard.name()));
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("already exists"), std::string::npos) << second.error().message;
  EXPECT_TRUE(lab_live_status(*first).healthy()) << "the failed attempt must not damage the lab";
}

TEST_F(Lab, FailureHalfWayRollsEverythingBack) {
  for (int after : {0, 1, 3, 5}) {
    LabGuard guard(unique_lab("rtfail"));
    LabUpOptions o;
    o.fail_after_netns = after;
    auto state = lab_up(small_spec(guard.name()), o);
    ASSERT_FALSE(state);
    EXPECT_NE(state.error().message.find("injected failure"), std::string::npos) << state.error().message;
    EXPECT_TRUE(leftovers(guard.name()).empty()) << "after " << after;
  }
}

TEST_F(Lab, CrashHalfWayIsCleanedUpByDown) {
  LabGuard guard(unique_lab("rtcrash"));
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    LabUpOptions o;
    o.crash_after_netns = 4;
    (void)lab_up(small_spec(guard.name()), o);
    ::_exit(0);  // not reached: lab_up aborts
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child should have crashed";
  // The crash left namespaces and no state; status and up say so.
  EXPECT_EQ(list_netns(lab_prefix(guard.name())).size(), 4u);
  auto st = load_lab_state(guard.name());
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("leftover"), std::string::npos) << st.error().message;
  EXPECT_FALSE(lab_up(small_spec(guard.name())));
  LabDownReport rep;
  ASSERT_TRUE(lab_down(guard.name(), &rep).ok());
  EXPECT_EQ(rep.netns_removed.size(), 4u);
  EXPECT_TRUE(leftovers(guard.name()).empty());
}

TEST_F(Lab, RejectsInvalidSpecsBeforeCreatingAnything) {
  std::string lab = unique_lab("rtbad");
  LabGuard guard(lab);
  auto expect_error = [&](LabSpec s, const std::string& what) {
    auto r = lab_up(s);
    ASSERT_FALSE(r) << what;
    EXPECT_NE(r.error().message.find(what), std::string::npos) << r.error().message;
    EXPECT_TRUE(leftovers(lab).empty());
  };
  LabSpec s = small_spec(lab);
  s.pods[1].ip = s.pods[0].ip;
  expect_error(s, "reuses IP 10.10.1.10");
  s = small_spec(lab);
  s.pods[0].node = "n9";
  expect_error(s, "unknown node 'n9'");
  s = small_spec(lab);
  s.nodes[1].ip = ip("192.168.66.3");
  expect_error(s, "not in the underlay network");
  s = small_spec(lab);
  s.pods.push_back(s.pods[0]);
  expect_error(s, "duplicate pod 'default/web-0'");
  s = small_spec(lab);
  s.pods[0].ip = kPodGateway;
  expect_error(s, "gateway");
  s = small_spec("Bad-Name");
  expect_error(s, "invalid lab name");
  s = small_spec(lab);
  s.nodes.clear();
  expect_error(s, "at least one node");
}

TEST_F(Lab, ExecResolvesPodsWorkloadsAndNodes) {
  LabGuard guard(unique_lab("rtexec"));
  auto state = lab_up(small_spec(guard.name()));
  ASSERT_TRUE(state) << state.error().message;
  auto t = resolve_exec_target(*state, "default/web-1");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->display, "default/web-1");
  t = resolve_exec_target(*state, "db");  // a workload: its first replica
  ASSERT_TRUE(t);
  EXPECT_EQ(t->display, "default/db-0");
  t = resolve_exec_target(*state, "client");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->display, "other/web-0");
  t = resolve_exec_target(*state, "web");  // workload in default
  ASSERT_TRUE(t);
  EXPECT_EQ(t->display, "default/web-0");
  auto amb = resolve_exec_target(*state, "web-0");  // a pod name in two namespaces
  ASSERT_FALSE(amb);
  EXPECT_NE(amb.error().message.find("ambiguous"), std::string::npos);
  t = resolve_exec_target(*state, "n2");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->pod, nullptr);
  EXPECT_EQ(t->netns, state->nodes[1].netns);
  EXPECT_FALSE(resolve_exec_target(*state, "nothing"));

  // Runs inside the pod's namespace: the only non-loopback address is the pod's.
  t = resolve_exec_target(*state, "default/db-0");
  ASSERT_TRUE(t);
  auto rc =
      lab_exec(*state, *t, {"/bin/sh", "-c", "ip -4 -o addr show dev eth0 | grep -q ' 10.10.1.30/32 ' && exit 5"});
  ASSERT_TRUE(rc) << rc.error().message;
  EXPECT_EQ(*rc, 5);
  rc = lab_exec(*state, *t,
                {"/bin/sh", "-c", "test \"$POLNODE_POD\" = default/db-0 && test \"$POLNODE_LAB\" = " + guard.name()});
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 0);
  rc = lab_exec(*state, *t, {"/nonexistent/cmd"});
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 127);
}

}  // namespace
}  // namespace polc::runtime
