// CompileDatapath: the embedded datapath C sources (backend-bpf/datapath/) plus a generated
// configuration header -> LLVM IR text, BPF assembly, or a BPF ELF object with BTF, through the
// clang and LLVM libraries in-process (no clang binary, no system headers).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "polc/ir/result.h"

namespace polc::backend_bpf {

enum class Emit { Llvm, Asm, Obj };
[[nodiscard]] const char* emit_name(Emit e);

/// One source file the datapath is built from, under its virtual path ("/polc/...").
struct SourceFile {
  std::string path;
  std::string_view text;
};
/// The datapath sources compiled into polc (the main file first).
[[nodiscard]] std::vector<SourceFile> datapath_sources();

/// Compiles the datapath with `build_config` as polc_build_config.h (macros such as
/// POLC_CAP_POLICY). Returns the LLVM IR text, the assembly text, or the object bytes. A
/// compile error is an internal bug (the sources are polc's own): it comes back as an Error
/// holding clang's diagnostics. Thread-safe; recent results are cached by (configuration, stage).
[[nodiscard]] ir::Result<std::string> compile_datapath(const std::string& build_config, Emit emit);

}  // namespace polc::backend_bpf
