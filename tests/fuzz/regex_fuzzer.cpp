// libFuzzer target: the L7 regex parser, with NFA/DFA agreement checked on every accepted pattern.
// Built with -DPOLC_FUZZ=ON (clang); tests/fuzz/README.md says how to run it.
#include <cstdio>
#include <cstdlib>

#include "fuzz_entries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string why = polc::fuzz::regex(data, size);
  if (!why.empty()) {
    std::fprintf(stderr, "polc_fuzz_regex: %s\n", why.c_str());
    std::abort();
  }
  return 0;
}
