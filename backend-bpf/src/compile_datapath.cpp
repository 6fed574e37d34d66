#include "polc/backend_bpf/compile_datapath.h"

#include <clang/Basic/DiagnosticOptions.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/CompilerInvocation.h>
#include <clang/Frontend/TextDiagnosticPrinter.h>
#include <llvm/ADT/SmallString.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/VirtualFileSystem.h>
#include <llvm/Support/raw_ostream.h>

#include <algorithm>
#include <memory>
#include <mutex>

namespace polc::backend_bpf {

namespace {

struct EmbeddedFile {
  const char* path;
  const char* text;
};
#include "embedded_datapath.inc"

constexpr const char* kMainFile = "/polc/datapath/polc_datapath.bpf.c";
constexpr const char* kConfigFile = "/polc/datapath/polc_build_config.h";

void init_bpf_target() {
  static std::once_flag once;
  std::call_once(once, [] {
    LLVMInitializeBPFTargetInfo();
    LLVMInitializeBPFTarget();
    LLVMInitializeBPFTargetMC();
    LLVMInitializeBPFAsmPrinter();
  });
}

}  // namespace

const char* emit_name(Emit e) {
  switch (e) {
    case Emit::Llvm: return "llvm";
    case Emit::Asm: return "asm";
    case Emit::Obj: return "obj";
  }
  return "?";
}

std::vector<SourceFile> datapath_sources() {
  std::vector<SourceFile> out;
  for (const auto& f : kEmbeddedFiles) out.push_back(SourceFile{f.path, f.text});
  std::stable_partition(out.begin(), out.end(), [](const SourceFile& f) { return f.path == kMainFile; });
  return out;
}

namespace {

ir::Result<std::string> compile_uncached(const std::string& build_config, Emit emit);

/// Recent compilations: the output depends only on (configuration, stage), and policies of
/// similar size share a configuration.
struct CompileCache {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> items;  // key -> output, most recent last
  static constexpr size_t kMax = 8;
};
CompileCache& cache() {
  static CompileCache c;
  return c;
}

}  // namespace

ir::Result<std::string> compile_datapath(const std::string& build_config, Emit emit) {
  const std::string key = std::string(emit_name(emit)) + "\n" + build_config;
  {
    std::lock_guard<std::mutex> lock(cache().mu);
    auto& items = cache().items;
    for (auto it = items.begin(); it != items.end(); ++it)
      if (it->first == key) {
        auto hit = std::move(*it);
        items.erase(it);
        items.push_back(std::move(hit));
        return items.back().second;
      }
  }
  auto out = compile_uncached(build_config, emit);
  if (!out) return out;
  std::lock_guard<std::mutex> lock(cache().mu);
  auto& items = cache().items;
  if (items.size() >= CompileCache::kMax) items.erase(items.begin());
  items.emplace_back(key, *out);
  return out;
}

namespace {

ir::Result<std::string> compile_uncached(const std::string& build_config, Emit emit) {
  init_bpf_target();

  // Every file the compiler may open lives in memory: the embedded sources and the config.
  auto fs = llvm::makeIntrusiveRefCnt<llvm::vfs::InMemoryFileSystem>();
  for (const auto& f : kEmbeddedFiles)
    fs->addFile(f.path, 0, llvm::MemoryBuffer::getMemBuffer(f.text, f.path, /*RequiresNullTerminator=*/false));
  fs->addFile(kConfigFile, 0, llvm::MemoryBuffer::getMemBufferCopy(build_config, kConfigFile));

  std::string diag_text;
  llvm::raw_string_ostream diag_os(diag_text);
  auto diag_opts = llvm::makeIntrusiveRefCnt<clang::DiagnosticOptions>();
  auto* printer = new clang::TextDiagnosticPrinter(diag_os, diag_opts.get());
  auto diags = llvm::makeIntrusiveRefCnt<clang::DiagnosticsEngine>(llvm::makeIntrusiveRefCnt<clang::DiagnosticIDs>(),
                                                                   diag_opts.get(), printer, /*ShouldOwnClient=*/true);

  const char* args[] = {"-triple",
                        "bpf",
                        "-target-cpu",
                        "v3",
                        "-O2",
                        "-debug-info-kind=constructor",
                        "-dwarf-version=4",
                        "-ffreestanding",
                        "-nostdsysteminc",
                        "-nobuiltininc",
                        "-Wall",
                        "-Werror",
                        "-I",
                        "/polc/include",
                        "-I",
                        "/polc/datapath",
                        "-x",
                        "c",
                        kMainFile};
  auto invocation = std::make_shared<clang::CompilerInvocation>();
  if (!clang::CompilerInvocation::CreateFromArgs(*invocation, args, *diags))
    return ir::Error{"invalid clang arguments for the BPF datapath: " + diag_os.str()};
  invocation->getFrontendOpts().OutputFile = "-";

  clang::CompilerInstance ci;
  ci.setInvocation(invocation);
  ci.setDiagnostics(diags.get());
  ci.setVerboseOutputStream(diag_os);  // "N errors generated" goes with the diagnostics
  ci.createFileManager(fs);

  llvm::SmallString<0> output;
  ci.setOutputStream(std::make_unique<llvm::raw_svector_ostream>(output));
  llvm::LLVMContext context;
  std::unique_ptr<clang::CodeGenAction> action;
  switch (emit) {
    case Emit::Llvm: action = std::make_unique<clang::EmitLLVMAction>(&context); break;
    case Emit::Asm: action = std::make_unique<clang::EmitAssemblyAction>(&context); break;
    case Emit::Obj: action = std::make_unique<clang::EmitObjAction>(&context); break;
  }
  bool ok = ci.ExecuteAction(*action);
  diag_os.flush();
  if (!ok || diags->hasErrorOccurred())
    return ir::Error{"internal error: the BPF datapath did not compile:\n" + diag_text};
  return std::string(output.data(), output.size());
}

}  // namespace

}  // namespace polc::backend_bpf
