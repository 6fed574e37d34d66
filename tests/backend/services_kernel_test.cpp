// Services in the compiled datapath, with BPF_PROG_TEST_RUN (root): packets to a ClusterIP are
// rewritten to a backend and its target port before the policy judges them, replies get the
// service address back, every rewrite leaves valid IPv4 and TCP/UDP checksums, a connection keeps
// its backend, an 80/20 weight splits 80/20, and NodePort traffic from the underlay is
// translated (with SNAT for a remote backend).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <set>

#include "datapath_harness.h"
#include "services_fixture.h"
#include "test_util.h"

namespace polc::backend_bpf::testing {
namespace {

constexpr int kPass = 0;      // TC_ACT_OK
constexpr int kDrop = 2;      // TC_ACT_SHOT
constexpr int kRedirect = 7;  // TC_ACT_REDIRECT

uint32_t ip(const char* s) {
  return ir::Ipv4::parse(s)->value;
}

const uint32_t kClient = ip("10.10.1.1");
const uint32_t kV1 = ip("10.10.1.2");
const uint32_t kV2 = ip("10.10.2.3");
const uint32_t kVip = ip("10.96.0.50");
const uint32_t kEmptyVip = ip("10.96.0.60");
const uint32_t kNode1 = ip("192.168.65.10");
const uint32_t kNode2 = ip("192.168.65.11");

/// A TCP or UDP packet with correct checksums (udp_checksum = false: UDP without a checksum).
struct Frame {
  uint32_t saddr = 0, daddr = 0;  // host byte order
  uint16_t sport = 0, dport = 0;
  uint8_t proto = 6;
  uint8_t tcp_flags = 0x02;
  bool udp_checksum = true;
  std::string payload = "hello";
};

uint32_t sum16(const uint8_t* p, size_t n, uint32_t acc = 0) {
  for (size_t i = 0; i + 1 < n; i += 2) acc += (uint32_t(p[i]) << 8) | p[i + 1];
  if (n & 1) acc += uint32_t(p[n - 1]) << 8;
  return acc;
}
uint16_t fold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}
void put16(uint8_t* p, uint16_t v) {
  p[0] = uint8_t(v >> 8);
  p[1] = uint8_t(v);
}
void put32(uint8_t* p, uint32_t v) {
  put16(p, uint16_t(v >> 16));
  put16(p + 2, uint16_t(v));
}
uint16_t get16(const uint8_t* p) {
  return uint16_t((p[0] << 8) | p[1]);
}
uint32_t get32(const uint8_t* p) {
  return (uint32_t(get16(p)) << 16) | get16(p + 2);
}

/// The checksum over the L4 pseudo header and segment (0 when the packet's checksum is right).
uint16_t l4_residue(const std::vector<uint8_t>& f) {
  const uint8_t* ipp = f.data() + 14;
  size_t l4_len = get16(ipp + 2) - 20;
  uint32_t acc = sum16(ipp + 12, 8);
  acc += ipp[9];
  acc += static_cast<uint32_t>(l4_len);
  acc = sum16(ipp + 20, l4_len, acc);
  return static_cast<uint16_t>(~fold(acc));
}

std::vector<uint8_t> build(const Frame& fr) {
  size_t l4 = fr.proto == 6 ? 20 : 8;
  std::vector<uint8_t> f(14 + 20 + l4 + fr.payload.size(), 0);
  for (int i = 0; i < 6; ++i) f[i] = 0xee, f[6 + i] = 0x0a;
  put16(&f[12], 0x0800);
  uint8_t* ipp = &f[14];
  ipp[0] = 0x45;
  put16(ipp + 2, static_cast<uint16_t>(20 + l4 + fr.payload.size()));
  put16(ipp + 4, 7);
  ipp[8] = 64;
  ipp[9] = fr.proto;
  put32(ipp + 12, fr.saddr);
  put32(ipp + 16, fr.daddr);
  put16(ipp + 10, static_cast<uint16_t>(~fold(sum16(ipp, 20))));
  uint8_t* l = ipp + 20;
  put16(l, fr.sport);
  put16(l + 2, fr.dport);
  if (fr.proto == 6) {
    l[12] = 5 << 4;
    l[13] = fr.tcp_flags;
    put16(l + 14, 65535);
  } else {
    put16(l + 4, static_cast<uint16_t>(8 + fr.payload.size()));
  }
  std::memcpy(l + l4, fr.payload.data(), fr.payload.size());
  if (fr.proto == 6 || fr.udp_checksum) {
    uint16_t c = l4_residue(f);  // over a zero checksum field: the checksum itself
    if (fr.proto == 17 && c == 0) c = 0xffff;
    put16(l + (fr.proto == 6 ? 16 : 6), c);
  }
  return f;
}

struct Seen {
  uint32_t saddr, daddr;
  uint16_t sport, dport;
  uint16_t l4_checksum;
  bool ip_checksum_ok, l4_checksum_ok;
};
Seen parse(const std::vector<uint8_t>& f) {
  const uint8_t* ipp = f.data() + 14;
  const uint8_t* l = ipp + 20;
  Seen s{};
  s.saddr = get32(ipp + 12);
  s.daddr = get32(ipp + 16);
  s.sport = get16(l);
  s.dport = get16(l + 2);
  s.l4_checksum = get16(l + (ipp[9] == 6 ? 16 : 6));
  s.ip_checksum_ok = fold(sum16(ipp, 20)) == 0xffff;
  s.l4_checksum_ok = (ipp[9] == 17 && s.l4_checksum == 0) || l4_residue(f) == 0;
  return s;
}

class Services : public ::testing::Test {
 protected:
  void load(const std::string& yaml) {
    model_ = std::make_unique<ir::Model>(load_yaml("services.yaml", yaml));
    ir::DiagnosticEngine diags;
    nodes_ = compile_and_load(*model_, diags);
    ASSERT_EQ(nodes_.size(), 2u);
  }
  Datapath& node(int i) { return *nodes_.at(i).dp; }

  /// Runs `program` of node i on `in`; the frame as the program left it goes to *out.
  int run(int i, const std::string& program, const std::vector<uint8_t>& in, std::vector<uint8_t>* out) {
    bpf_program* p = bpf_object__find_program_by_name(node(i).object(), program.c_str());
    EXPECT_NE(p, nullptr) << program;
    if (!p) return -1;
    out->assign(in.size() + 64, 0);
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in.data(), .data_out = out->data(),
                .data_size_in = static_cast<uint32_t>(in.size()), .data_size_out = static_cast<uint32_t>(out->size()));
    int err = bpf_prog_test_run_opts(bpf_program__fd(p), &opts);
    EXPECT_EQ(err, 0) << program << ": " << std::strerror(-err);
    out->resize(opts.data_size_out);
    return static_cast<int>(opts.retval);
  }

  /// A connection's first packet from the client through polc_from_pod of node 0.
  Seen connect(uint16_t sport, int* rc = nullptr, uint8_t proto = 6, uint16_t port = 80) {
    Frame fr{kClient, kVip, sport, port, proto};
    std::vector<uint8_t> out;
    int r = run(0, "polc_from_pod", build(fr), &out);
    if (rc) *rc = r;
    return parse(out);
  }

  std::unique_ptr<ir::Model> model_;
  std::vector<LoadedNode> nodes_;
};

TEST_F(Services, ClusterIpIsTranslatedToABackendAndRepliesGetTheServiceAddressBack) {
  load(kServicesYaml);
  std::set<uint32_t> backends;
  for (uint16_t sport = 40000; sport < 40040; ++sport) {
    int rc = -1;
    Seen s = connect(sport, &rc);
    ASSERT_EQ(rc, kPass);
    ASSERT_TRUE(s.daddr == kV1 || s.daddr == kV2);
    // The named targetPort `http` is 8080 on v1 and 9090 on v2.
    EXPECT_EQ(s.dport, s.daddr == kV1 ? 8080 : 9090);
    EXPECT_EQ(s.saddr, kClient);
    EXPECT_EQ(s.sport, sport);
    EXPECT_TRUE(s.ip_checksum_ok);
    EXPECT_TRUE(s.l4_checksum_ok);
    backends.insert(s.daddr);

    // The backend's SYN-ACK, as it reaches the client: from the service address again.
    Frame reply{s.daddr, kClient, s.dport, sport, 6, 0x12};
    std::vector<uint8_t> out;
    ASSERT_EQ(run(0, "polc_to_pod", build(reply), &out), kPass);
    Seen r = parse(out);
    EXPECT_EQ(r.saddr, kVip);
    EXPECT_EQ(r.sport, 80);
    EXPECT_EQ(r.daddr, kClient);
    EXPECT_EQ(r.dport, sport);
    EXPECT_TRUE(r.ip_checksum_ok);
    EXPECT_TRUE(r.l4_checksum_ok);
  }
  EXPECT_EQ(backends.size(), 2u);  // 40 connections at 80/20 miss v2 with probability 1e-4
}

TEST_F(Services, AConnectionKeepsItsBackend) {
  load(kServicesYaml);
  std::map<uint16_t, uint32_t> first;
  for (uint16_t sport = 41000; sport < 41020; ++sport) first[sport] = connect(sport).daddr;
  // Retransmitted SYNs, then the rest of the connection: always the same backend.
  for (int round = 0; round < 5; ++round)
    for (auto [sport, backend] : first) {
      EXPECT_EQ(connect(sport).daddr, backend) << sport;
      Frame ack{kClient, kVip, sport, 80, 6, 0x10};
      std::vector<uint8_t> out;
      ASSERT_EQ(run(0, "polc_from_pod", build(ack), &out), kPass);
      EXPECT_EQ(parse(out).daddr, backend);
    }
  // After FIN the tuple is free: a new SYN chooses again (here: still a valid backend).
  Frame fin{kClient, kVip, 41000, 80, 6, 0x11};
  std::vector<uint8_t> out;
  ASSERT_EQ(run(0, "polc_from_pod", build(fin), &out), kPass);
  EXPECT_EQ(parse(out).daddr, first[41000]);
  uint32_t again = connect(41000).daddr;
  EXPECT_TRUE(again == kV1 || again == kV2);
}

TEST_F(Services, WeightsSplitNewConnections) {
  load(kServicesYaml);
  constexpr int kN = 4000;
  constexpr double kP = 0.8;
  int v1 = 0;
  for (int i = 0; i < kN; ++i) {
    Seen s = connect(static_cast<uint16_t>(20000 + i));
    ASSERT_TRUE(s.daddr == kV1 || s.daddr == kV2);
    v1 += s.daddr == kV1;
  }
  // Binomial(kN, 0.8): mean 3200, sigma 25.3; 4 sigma fails a correct datapath once in 16,000 runs.
  const double sigma = std::sqrt(kN * kP * (1 - kP));
  EXPECT_NEAR(v1, kN * kP, 4 * sigma) << "v1 got " << v1 << " of " << kN;
}

TEST_F(Services, UdpChecksumsStayValidAndAMissingChecksumStaysMissing) {
  load(kServicesYaml);
  for (bool with_checksum : {true, false}) {
    Frame fr{kClient, kVip, 5000, 53, 17};
    fr.udp_checksum = with_checksum;
    std::vector<uint8_t> out;
    ASSERT_EQ(run(0, "polc_from_pod", build(fr), &out), kPass);
    Seen s = parse(out);
    ASSERT_TRUE(s.daddr == kV1 || s.daddr == kV2);
    EXPECT_EQ(s.dport, 5353);
    EXPECT_TRUE(s.ip_checksum_ok);
    if (with_checksum) {
      EXPECT_NE(s.l4_checksum, 0);
      EXPECT_TRUE(s.l4_checksum_ok);
    } else {
      EXPECT_EQ(s.l4_checksum, 0);
    }
    Frame reply{s.daddr, kClient, 5353, 5000, 17};
    reply.udp_checksum = with_checksum;
    ASSERT_EQ(run(0, "polc_to_pod", build(reply), &out), kPass);
    Seen r = parse(out);
    EXPECT_EQ(r.saddr, kVip);
    EXPECT_EQ(r.sport, 53);
    EXPECT_TRUE(r.ip_checksum_ok);
    EXPECT_TRUE(r.l4_checksum_ok);
    if (!with_checksum) {
      EXPECT_EQ(r.l4_checksum, 0);
    }
    node(0).clear();
    node(0).fill(nodes_[0].layout);
  }
}

TEST_F(Services, OtherTrafficIsLeftAlone) {
  load(kServicesYaml);
  std::vector<std::vector<uint8_t>> frames = {
      build({kClient, kV1, 40000, 8080, 6}),      // a pod address
      build({kClient, kVip, 40000, 8080, 6}),     // the service address on a port it does not serve
      build({kClient, kEmptyVip, 40000, 81, 6}),  // a service without backends
      build({kClient, kVip, 40000, 80, 17}),      // the service port with another protocol
  };
  for (const auto& f : frames) {
    std::vector<uint8_t> out;
    (void)run(0, "polc_from_pod", f, &out);
    EXPECT_EQ(out, f);
  }
  // A packet from a pod that is not a reply of a service connection keeps its source.
  std::vector<uint8_t> out;
  auto f = build({kV1, kClient, 8080, 40000, 6, 0x12});
  ASSERT_EQ(run(0, "polc_to_pod", f, &out), kPass);
  EXPECT_EQ(out, f);
}

TEST_F(Services, ThePolicyJudgesTheChosenBackend) {
  // The client may reach v1:8080 only: connections that land on v2 are dropped by the client's
  // egress policy, after translation; connections that land on v1 pass. (Kubernetes: the
  // service picks a backend without regard to policy, then the policy judges that backend.)
  load(std::string(kServicesYaml) + "---\n" + kClientToV1Yaml);
  int passed = 0, dropped = 0;
  for (uint16_t sport = 42000; sport < 42200; ++sport) {
    int rc = -1;
    Seen s = connect(sport, &rc);
    if (rc == kPass) {
      ++passed;
      EXPECT_EQ(s.daddr, kV1);
      EXPECT_EQ(s.dport, 8080);
    } else {
      ++dropped;
      EXPECT_EQ(rc, kDrop);
      EXPECT_EQ(s.daddr, kV2);
    }
    // A retransmission goes to the same backend and gets the same verdict.
    int again = -1;
    EXPECT_EQ(connect(sport, &again).daddr, s.daddr);
    EXPECT_EQ(again, rc);
  }
  EXPECT_GT(passed, 0);
  EXPECT_GT(dropped, 0);
  EXPECT_EQ(node(0).stat(POLC_REASON_POLICY_DEFAULT_DENY), static_cast<uint64_t>(2 * dropped));
}

TEST_F(Services, NodePortFromTheUnderlay) {
  load(kServicesYaml);
  int local = 0, remote = 0;
  for (uint16_t sport = 50000; sport < 50060; ++sport) {
    Frame fr{kNode2, kNode1, sport, 30080, 6};
    std::vector<uint8_t> out;
    int rc = run(0, "polc_from_underlay", build(fr), &out);
    Seen s = parse(out);
    EXPECT_TRUE(s.ip_checksum_ok);
    EXPECT_TRUE(s.l4_checksum_ok);
    if (s.daddr == kV1) {
      // A backend on this node: destination only; the policy sees the real client.
      ++local;
      EXPECT_EQ(rc, kPass);
      EXPECT_EQ(s.dport, 8080);
      EXPECT_EQ(s.saddr, kNode2);
      EXPECT_EQ(s.sport, sport);
      Frame reply{kV1, kNode2, 8080, sport, 6, 0x12};
      ASSERT_EQ(run(0, "polc_to_underlay", build(reply), &out), kPass);
      Seen r = parse(out);
      EXPECT_EQ(r.saddr, kNode1);
      EXPECT_EQ(r.sport, 30080);
      EXPECT_EQ(r.daddr, kNode2);
      EXPECT_TRUE(r.ip_checksum_ok && r.l4_checksum_ok);
    } else {
      // A backend on another node: source rewritten to this node (client port kept), and the
      // packet sent back out of the underlay.
      ++remote;
      EXPECT_EQ(rc, kRedirect);
      EXPECT_EQ(s.daddr, kV2);
      EXPECT_EQ(s.dport, 9090);
      EXPECT_EQ(s.saddr, kNode1);
      EXPECT_EQ(s.sport, sport);
      Frame reply{kV2, kNode1, 9090, sport, 6, 0x12};
      ASSERT_EQ(run(0, "polc_from_underlay", build(reply), &out), kRedirect);
      Seen r = parse(out);
      EXPECT_EQ(r.saddr, kNode1);
      EXPECT_EQ(r.sport, 30080);
      EXPECT_EQ(r.daddr, kNode2);
      EXPECT_EQ(r.dport, sport);
      EXPECT_TRUE(r.ip_checksum_ok && r.l4_checksum_ok);
    }
  }
  EXPECT_GT(local, 0);
  EXPECT_GT(remote, 0);
  // Pod traffic crossing the underlay is not touched.
  auto f = build({kV2, kClient, 9090, 40000, 6, 0x12});
  std::vector<uint8_t> out;
  EXPECT_EQ(run(0, "polc_from_underlay", f, &out), kPass);
  EXPECT_EQ(out, f);
  EXPECT_EQ(run(0, "polc_to_underlay", f, &out), kPass);
  EXPECT_EQ(out, f);
}

TEST_F(Services, APodReachesANodePortThroughItsOwnHook) {
  load(kServicesYaml);
  Frame fr{kClient, kNode2, 40500, 30080, 6};
  std::vector<uint8_t> out;
  ASSERT_EQ(run(0, "polc_from_pod", build(fr), &out), kPass);
  Seen s = parse(out);
  ASSERT_TRUE(s.daddr == kV1 || s.daddr == kV2);
  EXPECT_EQ(s.saddr, kClient);  // no SNAT: the reply comes back through the client's node
  Frame reply{s.daddr, kClient, s.dport, 40500, 6, 0x12};
  ASSERT_EQ(run(0, "polc_to_pod", build(reply), &out), kPass);
  Seen r = parse(out);
  EXPECT_EQ(r.saddr, kNode2);
  EXPECT_EQ(r.sport, 30080);
  EXPECT_TRUE(r.ip_checksum_ok && r.l4_checksum_ok);
}

}  // namespace
}  // namespace polc::backend_bpf::testing
