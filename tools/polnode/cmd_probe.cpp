// `polnode probe serve|tcp|udp|http`: traffic for tests and demos (run it inside a pod with
// `polnode lab exec POD -- polnode probe ...`).
#include <fmt/format.h>
#include <signal.h>

#include <iostream>
#include <memory>

#include "commands.h"
#include "polc/runtime/probe.h"

namespace polc::polnode {

namespace {

struct ProbeCliOptions {
  std::vector<uint16_t> tcp, udp, http;
  std::string id;
  std::string target;
  int timeout_ms = 1000;
  std::string send;
  bool read = false;
  std::string payload = "ping";
  std::string method = "GET";
  std::string path = "/";
  std::string host;
  std::vector<std::string> headers;
  uint16_t source_port = 0;
  bool quiet = false;
};

runtime::Result<runtime::Endpoint4> parse_target(const std::string& s) {
  auto ep = runtime::parse_endpoint(s);
  if (!ep) return runtime::Error{"bad target '" + s + "': expected IP:PORT, e.g. 10.10.1.2:80"};
  return *ep;
}

int report(const ProbeCliOptions& o, const char* what, const runtime::ProbeResult& r) {
  if (!o.quiet) {
    std::cout << fmt::format("{} {} {} {:.1f}ms", what, o.target, runtime::probe_outcome_name(r.outcome), r.millis);
    if (r.http_status) std::cout << fmt::format(" status {}", r.http_status);
    if (!r.ok() && !r.detail.empty()) std::cout << " (" << r.detail << ")";
    std::cout << "\n";
    if (!r.reply.empty()) std::cout << r.reply << (r.reply.back() == '\n' ? "" : "\n");
  }
  if (r.outcome == runtime::ProbeOutcome::Error) return kUsage;
  return r.ok() ? kOk : kFailed;
}

int run_serve(const ProbeCliOptions& o) {
  if (o.tcp.empty() && o.udp.empty() && o.http.empty()) {
    std::cerr << "polnode probe serve: give at least one of --tcp, --udp, --http\n";
    return kUsage;
  }
  // Block the stop signals before the server thread starts, then wait for one of them here.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  auto server = runtime::ProbeServer::start({o.tcp, o.udp, o.http, o.id});
  if (!server) {
    std::cerr << "polnode probe serve: " << server.error().message << "\n";
    return kFailed;
  }
  std::string what;
  for (auto p : o.tcp) what += fmt::format(" tcp:{}", p);
  for (auto p : o.udp) what += fmt::format(" udp:{}", p);
  for (auto p : o.http) what += fmt::format(" http:{}", p);
  std::cout << "serving" << what << std::endl;  // flushed: callers wait for this line
  int sig = 0;
  sigwait(&set, &sig);
  server->stop();
  return kOk;
}

runtime::ProbeOptions probe_options(const ProbeCliOptions& o) {
  runtime::ProbeOptions po;
  po.timeout_ms = o.timeout_ms;
  po.source_port = o.source_port;
  po.send = o.send;
  po.read_reply = o.read;
  return po;
}

}  // namespace

void register_probe(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<ProbeCliOptions>();
  auto* probe = app.add_subcommand("probe", "send or serve test traffic (exit 0 when it gets through, 1 when not)");
  probe->require_subcommand(1);

  auto* serve = probe->add_subcommand("serve", "TCP/UDP echo and HTTP/1.1 servers until SIGINT/SIGTERM");
  serve->add_option("--tcp", o->tcp, "TCP echo port (repeatable)");
  serve->add_option("--udp", o->udp, "UDP echo port (repeatable)");
  serve->add_option("--http", o->http, "HTTP port: answers 200 with '<METHOD> <path>' (repeatable)");
  serve->add_option("--id", o->id, "name put in replies (TCP greeting line, UDP reply, HTTP body and X-Served-By)");
  serve->callback([o, exit_code] { *exit_code = run_serve(*o); });

  auto add_common = [&](CLI::App* c) {
    c->add_option("target", o->target, "IP:PORT")->required();
    c->add_option("--timeout-ms", o->timeout_ms, "give up after this long")->capture_default_str();
    c->add_option("--source-port", o->source_port, "bind this local port");
    c->add_flag("-q,--quiet", o->quiet, "print nothing; the exit code says it all");
  };

  auto* tcp = probe->add_subcommand("tcp", "connect over TCP: exit 0 connected, 1 refused or timed out");
  add_common(tcp);
  tcp->add_option("--send", o->send, "send these bytes after connecting");
  tcp->add_flag("--read", o->read, "wait for a reply (the server's greeting or echo) too");
  tcp->callback([o, exit_code] {
    auto ep = parse_target(o->target);
    if (!ep) {
      std::cerr << "polnode probe tcp: " << ep.error().message << "\n";
      *exit_code = kUsage;
      return;
    }
    *exit_code = report(*o, "tcp", runtime::tcp_connect(*ep, probe_options(*o)));
  });

  auto* udp = probe->add_subcommand("udp", "send a UDP datagram and wait for a reply: exit 0 replied, 1 not");
  add_common(udp);
  udp->add_option("--payload", o->payload, "datagram contents")->capture_default_str();
  udp->callback([o, exit_code] {
    auto ep = parse_target(o->target);
    if (!ep) {
      std::cerr << "polnode probe udp: " << ep.error().message << "\n";
      *exit_code = kUsage;
      return;
    }
    *exit_code = report(*o, "udp", runtime::udp_exchange(*ep, o->payload, probe_options(*o)));
  });

  auto* http = probe->add_subcommand("http", "send one HTTP/1.1 request: exit 0 on a 2xx/3xx response, 1 otherwise");
  add_common(http);
  http->add_option("-X,--method", o->method, "request method")->capture_default_str();
  http->add_option("--path", o->path, "request path")->capture_default_str();
  http->add_option("--host", o->host, "Host header (default: the target)");
  http->add_option("-H,--header", o->headers, "extra header 'Name: value' (repeatable)");
  http->callback([o, exit_code] {
    auto ep = parse_target(o->target);
    if (!ep) {
      std::cerr << "polnode probe http: " << ep.error().message << "\n";
      *exit_code = kUsage;
      return;
    }
    runtime::HttpRequest req{o->method, o->path, o->host, {}};
    for (const auto& h : o->headers) {
      auto colon = h.find(':');
      if (colon == std::string::npos) {
        std::cerr << "polnode probe http: bad header '" << h << "': expected 'Name: value'\n";
        *exit_code = kUsage;
        return;
      }
      std::string v = h.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(0, 1);
      req.headers.emplace_back(h.substr(0, colon), v);
    }
    auto r = runtime::http_request(*ep, req, probe_options(*o));
    int rc = report(*o, "http", r);
    if (rc == kOk && (r.http_status < 200 || r.http_status >= 400)) rc = kFailed;
    *exit_code = rc;
  });
}

}  // namespace polc::polnode
