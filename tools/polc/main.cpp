// polc: compile and verify Kubernetes network policy. A thin main over the libraries.
#include <iostream>

#include "common.h"
#include "polc/backend_bpf/backend.h"
#include "polc/verifier/verifier.h"

int main(int argc, char** argv) {
  CLI::App app{
      "polc: compile and verify Kubernetes network policy.\n\n"
      "Reads NetworkPolicy, CiliumNetworkPolicy and the cluster inventory (namespaces, pods,\n"
      "workloads, services) from YAML/JSON files or directories.\n\n"
      "Examples:\n"
      "  polc dump samples/demo                      show what polc understood\n"
      "  polc lint samples/demo                      check policies (exit 1 on findings)\n"
      "  polc query samples/demo \"can frontend reach database:5432?\"\n"
      "  polc matrix samples/demo                    who can reach whom, per port\n"
      "  polc compile samples/demo -o out/           eBPF objects + layout.json\n",
      "polc"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("polc ") + POLC_VERSION + " (z3 " + polc::verifier::z3_version() +
                                        ", llvm " + polc::backend_bpf::llvm_version() + ")");
  int exit_code = polc::cli::kOk;
  polc::cli::register_dump(app, &exit_code);
  polc::cli::register_lint(app, &exit_code);
  polc::cli::register_diff(app, &exit_code);
  polc::cli::register_compile(app, &exit_code);
  polc::cli::register_query(app, &exit_code);
  polc::cli::register_matrix(app, &exit_code);
  polc::cli::register_stubs(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : polc::cli::kInputError;
  }
  return exit_code;
}
