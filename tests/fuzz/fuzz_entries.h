// Entry functions shared by the libFuzzer targets (built with -DPOLC_FUZZ=ON) and the always-built
// corpus replay tests: each takes arbitrary bytes, must never crash, hang or throw, and returns a
// non-empty message when it detects an internal inconsistency.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace polc::fuzz {

/// YAML -> IR: loads the bytes as one input file (which finalizes the model), renders the model
/// as text and JSON, and evaluates probes between the model's endpoints and a few addresses.
[[nodiscard]] std::string yaml_to_ir(const uint8_t* data, size_t size);

/// L7 regex parser: the first line is the pattern, later lines are subjects. On a successful
/// parse, the NFA matcher and the minimal DFA must agree on every subject.
[[nodiscard]] std::string regex(const uint8_t* data, size_t size);

}  // namespace polc::fuzz
