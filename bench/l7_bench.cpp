// HTTP enforcement benchmark: nanoseconds per request of the compiled datapath's L7 parser
// (BPF_PROG_TEST_RUN with repeat, samples/l7-api) beside the same segment on a connection that
// is allowed at L4 only, in the same run, and the ratios. Needs root (BPF).
//
//   polc_l7_bench [--repeat 200000] [--rounds 5]
//
// Every repetition of an allowed request's segment is parsed and matched in full: the program
// sees a retransmission of the request start and judges it again, which costs what a new
// request costs.
#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../tests/backend/datapath_harness.h"
#include "polc/backend_bpf/backend.h"
#include "polc/frontend/loader.h"

namespace {

using namespace polc;
using backend_bpf::testing::build_packet;
using backend_bpf::testing::Datapath;
using backend_bpf::testing::LoadedNode;
using backend_bpf::testing::Packet;

struct Options {
  uint32_t repeat = 200000;
  int rounds = 5;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// Median ns per run of `program` on `frame` (after one warm-up run).
double measure(Datapath& dp, const char* program, const std::vector<uint8_t>& frame, const Options& o, int want) {
  if (dp.run(program, frame) != want) {
    std::fprintf(stderr, "unexpected verdict for %s\n", program);
    std::exit(1);
  }
  std::vector<double> rounds;
  for (int r = 0; r < o.rounds; ++r) {
    uint32_t ns = 0;
    dp.run(program, frame, o.repeat, &ns);
    rounds.push_back(ns);
  }
  return median(rounds);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--repeat") == 0) o.repeat = static_cast<uint32_t>(std::stoul(argv[i + 1]));
    if (std::strcmp(argv[i], "--rounds") == 0) o.rounds = std::stoi(argv[i + 1]);
  }
  // Refused requests are answered by clones sent to the packet's device: keep them in a
  // private network namespace (loopback down), as the kernel tests do.
  if (::unshare(CLONE_NEWNET) != 0) {
    std::perror("unshare(CLONE_NEWNET) (needs root)");
    return 1;
  }
  ir::DiagnosticEngine diags;
  ir::Model m = frontend::load_inputs({std::string(POLC_SOURCE_DIR) + "/samples/l7-api"}, diags).model;
  if (diags.has_errors()) return 1;
  std::vector<LoadedNode> nodes = backend_bpf::testing::compile_and_load(m, diags);
  Datapath& dp = *nodes[0].dp;
  auto ip = [&](const char* name) { return m.endpoint(*m.find_endpoint("default", name)).ip.value; };
  const uint32_t client = ip("client"), api = ip("api");

  struct Case {
    const char* name;
    std::string request;
  };
  const std::vector<Case> cases = {
      {"curl GET (78 B)",
       "GET /api/v1/users HTTP/1.1\r\nHost: api:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n"},
      {"POST + body (150 B)",
       "POST /api/v1/users HTTP/1.1\r\nHost: api:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nContent-Type: "
       "application/json\r\nContent-Length: 26\r\n\r\n{\"name\":\"a\",\"role\":\"user\"}"},
      {"browser GET (520 B)",
       "GET /api/v1/users/42?fields=name,email HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: Mozilla/5.0 (X11; "
       "Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\nAccept: "
       "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.5\r\n"
       "Accept-Encoding: gzip, deflate, br\r\nConnection: keep-alive\r\nCookie: session=0123456789abcdef0123456789ab"
       "cdef; theme=dark; lang=en\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\nSec-Fetch-Mode: "
       "navigate\r\nSec-Fetch-Site: none\r\nSec-Fetch-User: ?1\r\nCache-Control: max-age=0\r\n\r\n"},
  };

  std::printf("polc_l7_bench: samples/l7-api, %u repetitions x %d rounds (median), ns per packet\n\n", o.repeat,
              o.rounds);
  std::printf("%-22s %10s %10s %10s %8s %8s\n", "request", "L4 allow", "L7 allow", "L7 body", "L7/L4", "body/L4");
  uint16_t sport = 50000;
  for (const auto& c : cases) {
    // Plain L4: api -> client:8080 (client's ingress is not policed), established.
    Packet l4;
    l4.saddr = api;
    l4.daddr = client;
    l4.sport = sport++;
    l4.dport = 8080;
    l4.tcp_flags = 0x02;
    dp.run("polc_to_pod", build_packet(l4));
    l4.tcp_flags = 0x18;
    l4.seq = 1001;
    l4.payload.assign(c.request.begin(), c.request.end());
    double t_l4 = measure(dp, "polc_to_pod", build_packet(l4), o, 0);

    // L7: client -> api:8080, the request judged on every repetition.
    Packet l7;
    l7.saddr = client;
    l7.daddr = api;
    l7.sport = sport++;
    l7.dport = 8080;
    l7.tcp_flags = 0x02;
    dp.run("polc_to_pod", build_packet(l7));
    l7.tcp_flags = 0x18;
    l7.seq = 1001;
    std::string head = c.request, body;
    if (auto cl = head.find("Content-Length: "); cl != std::string::npos) {
      size_t end = head.find("\r\n\r\n") + 4;
      body = head.substr(end);
      head = head.substr(0, end + 2);  // two body bytes with the head, the rest in a body segment
      body = body.substr(2);
    }
    l7.payload.assign(head.begin(), head.end());
    double t_l7 = measure(dp, "polc_to_pod", build_packet(l7), o, 0);
    double t_body = 0;
    if (!body.empty()) {
      Packet b = l7;
      b.seq = 1001 + static_cast<uint32_t>(head.size());
      b.payload.assign(body.begin(), body.end());
      t_body = measure(dp, "polc_to_pod", build_packet(b), o, 0);
    }
    std::printf("%-22s %10.0f %10.0f %10s %7.1fx %8s\n", c.name, t_l4, t_l7,
                t_body > 0 ? std::to_string(static_cast<int>(t_body)).c_str() : "-", t_l7 / t_l4,
                t_body > 0 ? (std::to_string(t_body / t_l4).substr(0, 4) + "x").c_str() : "-");
  }

  // A refused request's later data (the connection is dead: one lookup and a drop).
  Packet d;
  d.saddr = client;
  d.daddr = api;
  d.sport = sport++;
  d.dport = 8080;
  d.tcp_flags = 0x02;
  dp.run("polc_to_pod", build_packet(d));
  d.tcp_flags = 0x18;
  d.seq = 1001;
  std::string bad = "DELETE /api/v1/users/1 HTTP/1.1\r\nHost: api\r\n\r\n";
  d.payload.assign(bad.begin(), bad.end());
  double t_dead = measure(dp, "polc_to_pod", build_packet(d), o, 2);
  std::printf("\nafter a refused request (403 sent once, later segments dropped): %.0f ns\n", t_dead);
  return 0;
}
