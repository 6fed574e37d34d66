// Kernel tests of the RAII handle types: namespaces, veth pairs, routes, clsact, tc programs.
// Every object is created under a per-process prefix and the fixture removes leftovers even
// when an assertion fails half-way.
#include "polc/runtime/handles.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <type_traits>

#include "polc/runtime/probe.h"

namespace polc::runtime {
namespace {

template <typename T>
constexpr bool kMoveOnly =
    !std::is_copy_constructible_v<T> && !std::is_copy_assignable_v<T> && std::is_nothrow_move_constructible_v<T>;
static_assert(kMoveOnly<Fd> && kMoveOnly<Netns> && kMoveOnly<NetnsGuard> && kMoveOnly<Link> && kMoveOnly<VethPair> &&
              kMoveOnly<Route> && kMoveOnly<Qdisc> && kMoveOnly<TcAttachment> && kMoveOnly<ProbeServer>);

Ipv4Addr ip(const char* s) {
  return *parse_ipv4(s);
}

const Mac kMacA{{0x02, 0, 0, 0, 0, 0x0a}};
const Mac kMacB{{0x02, 0, 0, 0, 0, 0x0b}};

ino_t netns_inode(const char* path) {
  struct stat st {};
  EXPECT_EQ(::stat(path, &st), 0) << path;
  return st.st_ino;
}

class Handles : public ::testing::Test {
 protected:
  std::string prefix_ = "pl-rth" + std::to_string(::getpid()) + "-";
  std::string name(const std::string& s) const { return prefix_ + s; }

  void TearDown() override {
    for (const auto& n : list_netns(prefix_)) {
      ADD_FAILURE() << "leftover namespace " << n;
      (void)kill_netns_processes(n);
      (void)delete_netns(n);
    }
  }

  Netns make(const std::string& s) {
    auto ns = Netns::create(name(s));
    EXPECT_TRUE(ns) << ns.error().message;
    return ns ? std::move(*ns) : Netns{};
  }

  /// Two namespaces joined by a veth pair a:10.200.0.1/24 <-> b:10.200.0.2/24.
  struct Pair {
    Netns a, b;
    VethPair veth;
  };
  Pair make_pair() {
    Pair p{make("a"), make("b"), {}};
    // Without this the two ends would both get ifindex 2 in their fresh namespaces, and the
    // kernel then activates the first end's queue lazily (up to a second later): correct, but slow.
    auto spacer = Link::create_bridge(p.b, "pl-spacer");
    EXPECT_TRUE(spacer) << spacer.error().message;
    if (spacer) spacer->release();
    auto v = VethPair::create(p.a, p.b, {"pl-va", "pl-vb", kMacA, kMacB});
    EXPECT_TRUE(v) << v.error().message;
    if (!v) return p;
    p.veth = std::move(*v);
    EXPECT_TRUE(add_address(p.a, p.veth.ifindex(), ip("10.200.0.1"), 24).ok());
    EXPECT_TRUE(add_address(p.b, p.veth.peer_ifindex(), ip("10.200.0.2"), 24).ok());
    EXPECT_TRUE(set_link_up(p.a, p.veth.ifindex()).ok());
    EXPECT_TRUE(set_link_up(p.b, p.veth.peer_ifindex()).ok());
    // Static neighbours: no ARP, so a drop program cannot leave a failed neighbour entry behind.
    EXPECT_TRUE(add_neighbour(p.a, p.veth.ifindex(), ip("10.200.0.2"), kMacB).ok());
    EXPECT_TRUE(add_neighbour(p.b, p.veth.peer_ifindex(), ip("10.200.0.1"), kMacA).ok());
    EXPECT_TRUE(wait_links_up(p.a, {p.veth.ifindex()}).ok());
    EXPECT_TRUE(wait_links_up(p.b, {p.veth.peer_ifindex()}).ok());
    return p;
  }
};

TEST_F(Handles, FdClosesOnDestructionAndMoves) {
  int raw = ::dup(0);
  ASSERT_GE(raw, 0);
  {
    Fd a(raw);
    Fd b(std::move(a));
    EXPECT_FALSE(a.valid());
    EXPECT_EQ(b.get(), raw);
    auto c = b.dup();
    ASSERT_TRUE(c);
    EXPECT_NE(c->get(), raw);
  }
  EXPECT_EQ(::fcntl(raw, F_GETFD), -1);
}

TEST_F(Handles, NetnsIsDeletedOnDestructionUnlessReleased) {
  {
    Netns ns = make("x");
    EXPECT_TRUE(netns_exists(name("x")));
    EXPECT_TRUE(ns.owned());
    Netns moved = std::move(ns);
    EXPECT_TRUE(netns_exists(name("x")));
  }
  EXPECT_FALSE(netns_exists(name("x")));

  {
    Netns ns = make("kept");
    ns.release();
  }
  EXPECT_TRUE(netns_exists(name("kept")));
  auto opened = Netns::open(name("kept"));
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_FALSE(opened->owned());
  EXPECT_TRUE(delete_netns(name("kept")).ok());
  EXPECT_FALSE(netns_exists(name("kept")));
  EXPECT_TRUE(delete_netns(name("kept")).ok()) << "deleting twice is fine";
}

TEST_F(Handles, NetnsErrorsNameTheObject) {
  Netns ns = make("dup");
  auto again = Netns::create(name("dup"));
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find(name("dup")), std::string::npos) << again.error().message;
  EXPECT_NE(again.error().message.find("File exists"), std::string::npos) << again.error().message;
  auto missing = Netns::open(name("missing"));
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("not found"), std::string::npos);
  EXPECT_FALSE(Netns::create("a/b"));
}

TEST_F(Handles, NetnsGuardEntersAndRestores) {
  Netns ns = make("g");
  ino_t before = netns_inode("/proc/thread-self/ns/net");
  {
    auto g = NetnsGuard::enter(ns);
    ASSERT_TRUE(g) << g.error().message;
    EXPECT_EQ(netns_inode("/proc/thread-self/ns/net"), netns_inode(ns.path().c_str()));
    auto moved = std::move(*g);  // restoring happens once, from the moved-to guard
  }
  EXPECT_EQ(netns_inode("/proc/thread-self/ns/net"), before);
  // A new namespace has loopback up and nothing else.
  auto links = list_links(ns);
  ASSERT_TRUE(links) << links.error().message;
  ASSERT_EQ(links->size(), 1u);
  EXPECT_EQ(links->front().name, "lo");
  EXPECT_TRUE(links->front().up);
}

TEST_F(Handles, VethPairCarriesTrafficAndIsRemovedOnDestruction) {
  Pair p = make_pair();
  ASSERT_TRUE(p.veth.link().valid());
  auto links = list_links(p.b);
  ASSERT_TRUE(links);
  bool seen = false;
  for (const auto& l : *links)
    if (l.name == "pl-vb") {
      seen = true;
      EXPECT_EQ(l.mac, kMacB);
      EXPECT_EQ(l.kind, "veth");
      EXPECT_TRUE(l.oper_up);
    }
  EXPECT_TRUE(seen);
  auto server = ProbeServer::start({{7000}, {7001}, {}, "b"}, &p.b);
  ASSERT_TRUE(server) << server.error().message;
  ProbeOptions o;
  o.netns = &p.a;
  o.read_reply = true;
  auto r = tcp_connect({ip("10.200.0.2"), 7000}, o);
  EXPECT_TRUE(r.ok()) << probe_outcome_name(r.outcome) << " " << r.detail;
  EXPECT_EQ(r.reply, "b\n");
  auto u = udp_exchange({ip("10.200.0.2"), 7001}, "hi", o);
  EXPECT_TRUE(u.ok()) << u.detail;
  EXPECT_EQ(u.reply, "b\nhi");

  ASSERT_TRUE(p.veth.remove().ok());
  for (const Netns* ns : {&p.a, &p.b}) {
    auto links = list_links(*ns);
    ASSERT_TRUE(links);
    for (const auto& l : *links) EXPECT_NE(l.kind, "veth") << l.name << " left in " << ns->name();
  }
}

TEST_F(Handles, VethRejectsBadNamesAndDuplicates) {
  Pair p = make_pair();
  auto longname = VethPair::create(p.a, p.b, {"pl-0123456789abcdef", "x", std::nullopt, std::nullopt});
  ASSERT_FALSE(longname);
  EXPECT_NE(longname.error().message.find("15 characters"), std::string::npos);
  auto dup = VethPair::create(p.a, p.b, {"pl-va", "pl-other", std::nullopt, std::nullopt});
  ASSERT_FALSE(dup);
  EXPECT_NE(dup.error().message.find("pl-va"), std::string::npos) << dup.error().message;
  EXPECT_FALSE(link_index(p.a, "nope"));
}

TEST_F(Handles, RouteIsRemovedOnDestruction) {
  Pair p = make_pair();
  auto lo = link_index(p.b, "lo");
  ASSERT_TRUE(lo);
  ASSERT_TRUE(add_address(p.b, *lo, ip("10.201.0.5"), 32).ok());
  auto server = ProbeServer::start({{7000}, {}, {}, ""}, &p.b);
  ASSERT_TRUE(server);
  ProbeOptions o;
  o.netns = &p.a;
  o.timeout_ms = 500;
  EXPECT_EQ(tcp_connect({ip("10.201.0.5"), 7000}, o).outcome, ProbeOutcome::Unreachable);
  {
    auto r = Route::add(p.a, {ip("10.201.0.5"), 32, ip("10.200.0.2"), p.veth.ifindex()});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_TRUE(tcp_connect({ip("10.201.0.5"), 7000}, o).ok());
    auto dup = Route::add(p.a, {ip("10.201.0.5"), 32, ip("10.200.0.2"), p.veth.ifindex()});
    EXPECT_FALSE(dup);
  }
  EXPECT_EQ(tcp_connect({ip("10.201.0.5"), 7000}, o).outcome, ProbeOutcome::Unreachable);
}

TEST_F(Handles, TcAttachmentDropsReplacesAndDetaches) {
  Pair p = make_pair();
  auto server = ProbeServer::start({{7000}, {}, {}, ""}, &p.b);
  ASSERT_TRUE(server);
  auto drop = load_tc_verdict_program(false, "pl_test_drop");
  ASSERT_TRUE(drop) << drop.error().message;
  auto pass = load_tc_verdict_program(true, "pl_test_pass");
  ASSERT_TRUE(pass) << pass.error().message;
  ProbeOptions o;
  o.netns = &p.a;
  o.timeout_ms = 300;
  {
    auto q = Qdisc::create_clsact(p.a, p.veth.ifindex());
    ASSERT_TRUE(q) << q.error().message;
    EXPECT_TRUE(q->owned());
    {
      auto again = Qdisc::create_clsact(p.a, p.veth.ifindex());
      ASSERT_TRUE(again);
      EXPECT_FALSE(again->owned()) << "an existing clsact is adopted, never deleted by the adopter";
    }
    {
      auto t = TcAttachment::attach(p.a, p.veth.ifindex(), TcDirection::Egress, drop->get());
      ASSERT_TRUE(t) << t.error().message;
      EXPECT_NE(t->prog_id(), 0u);
      auto filters = list_tc_filters(p.a, p.veth.ifindex());
      ASSERT_TRUE(filters) << filters.error().message;
      ASSERT_EQ(filters->size(), 1u);
      EXPECT_EQ(filters->front().dir, TcDirection::Egress);
      EXPECT_EQ(filters->front().prog_id, t->prog_id());
      EXPECT_NE(filters->front().prog_name.find("pl_test_drop"), std::string::npos) << filters->front().prog_name;
      EXPECT_EQ(tcp_connect({ip("10.200.0.2"), 7000}, o).outcome, ProbeOutcome::Timeout);

      // Attaching a second program at the same handle/priority is refused, not silently replaced.
      auto second = TcAttachment::attach(p.a, p.veth.ifindex(), TcDirection::Egress, pass->get());
      ASSERT_FALSE(second);
      EXPECT_NE(second.error().message.find("File exists"), std::string::npos) << second.error().message;
      ASSERT_TRUE(t->replace(pass->get()).ok());
      filters = list_tc_filters(p.a, p.veth.ifindex());
      ASSERT_TRUE(filters);
      ASSERT_EQ(filters->size(), 1u);
      EXPECT_EQ(filters->front().prog_id, t->prog_id());
      EXPECT_TRUE(tcp_connect({ip("10.200.0.2"), 7000}, o).ok());
      ASSERT_TRUE(t->replace(drop->get()).ok());
      EXPECT_EQ(tcp_connect({ip("10.200.0.2"), 7000}, o).outcome, ProbeOutcome::Timeout);
    }
    auto filters = list_tc_filters(p.a, p.veth.ifindex());
    ASSERT_TRUE(filters);
    EXPECT_TRUE(filters->empty()) << "the attachment detached on destruction";
    EXPECT_TRUE(tcp_connect({ip("10.200.0.2"), 7000}, o).ok());
  }
  // The qdisc is gone too: listing finds no clsact and reports nothing attached.
  auto filters = list_tc_filters(p.a, p.veth.ifindex());
  ASSERT_TRUE(filters) << filters.error().message;
  EXPECT_TRUE(filters->empty());
  auto bad = Qdisc::create_clsact(p.a, 99999);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("99999"), std::string::npos) << bad.error().message;
}

TEST_F(Handles, TcxLinkDropsUpdatesPinsAndDetaches) {
  ASSERT_TRUE(TcxLink::supported()) << "this kernel (6.6+) has tcx";
  Pair p = make_pair();
  auto server = ProbeServer::start({{7000}, {}, {}, ""}, &p.b);
  ASSERT_TRUE(server);
  auto drop = load_tc_verdict_program(false, "pl_test_drop");
  ASSERT_TRUE(drop) << drop.error().message;
  auto pass = load_tc_verdict_program(true, "pl_test_pass");
  ASSERT_TRUE(pass) << pass.error().message;
  ProbeOptions o;
  o.netns = &p.a;
  o.timeout_ms = 300;
  const std::string pin = "/sys/fs/bpf/pl_test_tcx_" + std::to_string(::getpid());
  {
    auto l = TcxLink::attach(p.a, p.veth.ifindex(), TcDirection::Egress, drop->get());
    ASSERT_TRUE(l) << l.error().message;
    EXPECT_TRUE(l->attached());
    auto listed = list_tc_programs(p.a, p.veth.ifindex());
    ASSERT_TRUE(listed) << listed.error().message;
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_TRUE(listed->front().tcx);
    EXPECT_EQ(listed->front().dir, TcDirection::Egress);
    EXPECT_EQ(listed->front().prog_id, l->prog_id());
    EXPECT_EQ(listed->front().prog_name, "pl_test_drop");
    EXPECT_EQ(tcp_connect({ip("10.200.0.2"), 7000}, o).outcome, ProbeOutcome::Timeout);
    ASSERT_TRUE(l->update(pass->get()).ok());
    EXPECT_TRUE(tcp_connect({ip("10.200.0.2"), 7000}, o).ok());
    ASSERT_TRUE(l->update(drop->get()).ok());
    ASSERT_TRUE(l->pin(pin).ok());
    l->release();  // the pin keeps it after the descriptor is gone
  }
  EXPECT_EQ(tcp_connect({ip("10.200.0.2"), 7000}, o).outcome, ProbeOutcome::Timeout);
  {
    auto again = TcxLink::open_pinned(pin);
    ASSERT_TRUE(again) << again.error().message;
    EXPECT_TRUE(again->attached());
    ASSERT_TRUE(again->detach().ok());
  }
  EXPECT_TRUE(tcp_connect({ip("10.200.0.2"), 7000}, o).ok()) << "a detached link leaves the hook";
  ASSERT_EQ(::unlink(pin.c_str()), 0);
  auto listed = list_tc_programs(p.a, p.veth.ifindex());
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());
  {
    // An owned, pinned link that is not released takes its pin with it (apply's rollback).
    auto l = TcxLink::attach(p.a, p.veth.ifindex(), TcDirection::Ingress, drop->get());
    ASSERT_TRUE(l) << l.error().message;
    ASSERT_TRUE(l->pin(pin).ok());
  }
  struct stat st {};
  EXPECT_NE(::stat(pin.c_str(), &st), 0);
  listed = list_tc_programs(p.a, p.veth.ifindex());
  ASSERT_TRUE(listed);
  EXPECT_TRUE(listed->empty());
  {
    // A link whose interface went away says so (apply then makes a new one).
    std::optional<TcxLink> orphan;
    {
      auto v = VethPair::create(p.a, p.b, {"pl-vc", "pl-vd", {}, {}});
      ASSERT_TRUE(v) << v.error().message;
      auto l = TcxLink::attach(p.a, v->ifindex(), TcDirection::Ingress, pass->get());
      ASSERT_TRUE(l) << l.error().message;
      orphan.emplace(std::move(*l));
      EXPECT_TRUE(orphan->attached());
    }
    EXPECT_FALSE(orphan->attached());
    EXPECT_TRUE(orphan->detach().ok());
  }
  auto bad = TcxLink::attach(p.a, 99999, TcDirection::Ingress, pass->get());
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("99999"), std::string::npos) << bad.error().message;
}

TEST_F(Handles, KillNetnsProcessesEndsOnlyProcessesInside) {
  Netns ns = make("k");
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (::setns(ns.fd(), CLONE_NEWNET) < 0) ::_exit(3);
    ::pause();
    ::_exit(0);
  }
  // Wait until the child has entered the namespace.
  for (int i = 0; i < 500; ++i) {
    struct stat a {
    }, b{};
    if (::stat(("/proc/" + std::to_string(child) + "/ns/net").c_str(), &a) == 0 && ::stat(ns.path().c_str(), &b) == 0 &&
        a.st_ino == b.st_ino)
      break;
    ::usleep(2000);
  }
  auto killed = kill_netns_processes(ns.name());
  ASSERT_EQ(killed, std::vector<int>{child});
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

}  // namespace
}  // namespace polc::runtime
