// The verifier layer: Z3-backed answers about an IR Model (queries, matrix, lint).
#pragma once

namespace polc::verifier {

/// The Z3 version linked in, e.g. "4.8.12".
[[nodiscard]] const char* z3_version();

}  // namespace polc::verifier
