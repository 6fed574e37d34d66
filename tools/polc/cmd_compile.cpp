// polc compile: policies + inventory -> per node, a BPF object and its map layout (layout.json).
#include <fmt/format.h>

#include <iostream>

#include "common.h"
#include "polc/backend_bpf/backend.h"

namespace polc::cli {

void register_compile(CLI::App& app, int* exit_code) {
  struct Opts {
    InputOptions in;
    std::string out;
    std::string node;
    std::string emit = "obj";
    bool report = false;
    bool quiet = false;
    uint32_t ct_entries = backend_bpf::CapacityOptions{}.ct_entries;
    uint32_t event_bytes = backend_bpf::CapacityOptions{}.event_bytes;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("compile", "Compile policies to eBPF objects and a map layout");
  cmd->footer(
      "Lowers the policy for the pods placed on each node into a BPF ELF object with BTF\n"
      "(polc.bpf.o: tc programs polc_from_pod and polc_to_pod, loadable by libbpf and\n"
      "`bpftool prog loadall`) and layout.json (every map with its key/value layout, max entries\n"
      "and initial entries; every program with its attach point; the id tables; a capacity\n"
      "report). The C datapath is compiled in-process: no clang binary or kernel headers needed.\n\n"
      "Output:\n"
      "  --node NAME   OUT/polc.bpf.o, OUT/layout.json for that node only\n"
      "  (default)     OUT/<node>/polc.bpf.o, OUT/<node>/layout.json for every node,\n"
      "                and OUT/index.json listing them\n"
      "  --emit=llvm   polc.ll (LLVM IR) instead;  --emit=asm  polc.s (BPF assembly) instead\n\n"
      "Map capacities are the policy's needs with headroom (see --report); a policy change that\n"
      "fits them needs new map contents only, not a new object (docs/datapath.md).\n\n"
      "Exit status: 0 compiled, 2 input errors or limits exceeded.\n\n"
      "Examples:\n"
      "  polc compile samples/demo -o out/\n"
      "  polc compile samples/demo -o out/ --node node-1 --report\n"
      "  polc compile samples/demo -o out/ --nodes 2     # for `polnode lab up samples/demo --nodes 2`\n"
      "  polc compile samples/demo -o out/ --emit=asm");
  add_input_options(cmd, opts->in);
  add_nodes_option(cmd, opts->in);
  cmd->add_option("-o,--output", opts->out, "output directory (created if missing)")->required();
  cmd->add_option("--node", opts->node, "compile only the pods on this node (flat output)");
  cmd->add_option("--emit", opts->emit, "stage to write: obj (object + layout.json), asm, llvm")
      ->check(CLI::IsMember({"obj", "asm", "llvm"}))
      ->capture_default_str();
  cmd->add_flag("--report", opts->report, "print the capacity report: entries per map, instructions per program");
  cmd->add_flag("-q,--quiet", opts->quiet, "print nothing but diagnostics");
  cmd->add_option("--ct-entries", opts->ct_entries, "conntrack entries per node (rounded up to a power of two)")
      ->capture_default_str();
  cmd->add_option("--event-bytes", opts->event_bytes, "flow event ring buffer bytes per node (power of two)")
      ->capture_default_str();
  cmd->callback([opts, exit_code] {
    ir::DiagnosticEngine diags(opts->in.max_errors);
    auto res = load_or_report(opts->in, diags);
    if (!res) {
      *exit_code = kInputError;
      return;
    }
    backend_bpf::CompileOptions co;
    if (!opts->node.empty()) co.node = opts->node;
    co.emit = opts->emit == "llvm"  ? backend_bpf::Emit::Llvm
              : opts->emit == "asm" ? backend_bpf::Emit::Asm
                                    : backend_bpf::Emit::Obj;
    co.capacity.ct_entries = opts->ct_entries;
    co.capacity.event_bytes = opts->event_bytes;
    ir::DiagnosticEngine bdiags(opts->in.max_errors);
    for (const auto& id : opts->in.disable)
      if (auto d = ir::find_diag(id)) bdiags.disable(*d);
    auto out = backend_bpf::compile_policy(res->model, co, bdiags);
    print_diagnostics(bdiags, res->model.sources, opts->in);
    if (!out) {
      std::cerr << "polc compile: " << out.error().message << "\n";
      *exit_code = kInputError;
      return;
    }
    if (auto st = backend_bpf::write_output(*out, opts->out, co.node.has_value(), co.emit); !st.ok()) {
      std::cerr << "polc compile: " << st.error().message << "\n";
      *exit_code = kInputError;
      return;
    }
    if (!opts->quiet) {
      for (const auto& a : out->nodes) {
        const auto& maps = a.layout["maps"];
        auto used = [&](const char* name) -> uint64_t {
          for (const auto& m : maps)
            if (m["name"] == name) return m["used"].get<uint64_t>();
          return 0;
        };
        std::string where = co.node ? opts->out : opts->out + "/" + a.node.name;
        std::cout << fmt::format(
            "{}: {} pods, {} contexts, {} policy entries, {} functions, {} verdicts, {} ipcache entries -> {}\n",
            a.node.name, a.pods, used("polc_contexts"), used("polc_policy"), used("polc_functions"),
            used("polc_verdicts"), used("polc_ipcache") + used("polc_ipcache_lpm"), where);
        if (opts->report) std::cout << backend_bpf::render_capacity(a.capacity, a.node.name);
      }
    }
    *exit_code = kOk;
  });
}

}  // namespace polc::cli
