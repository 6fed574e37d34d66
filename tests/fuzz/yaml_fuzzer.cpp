// libFuzzer target: arbitrary bytes through the YAML/JSON frontend into the IR and the reference
// evaluator. Built with -DPOLC_FUZZ=ON (clang); tests/fuzz/README.md says how to run it.
#include <cstdio>
#include <cstdlib>

#include "fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string why = polc::fuzz::yaml_to_ir(data, size);
  if (!why.empty()) {
    std::fprintf(stderr, "polc_fuzz_yaml: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
