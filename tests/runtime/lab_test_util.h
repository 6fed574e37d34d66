// Shared helpers of the lab tests: running polnode, tearing labs down whatever happens, and
// probing every pod pair with real sockets.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "polc/runtime/lab.h"

namespace polc::runtime::testing {

struct RunResult {
  int rc = -1;      ///< exit code, or 128+signal
  std::string out;  ///< stdout and stderr, interleaved
};
/// Runs argv (argv[0] is a path) with extra environment variables and waits.
RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {});
/// The polnode binary of this build.
std::string polnode();
/// The polc binary of this build (POLC_TEST_POLC overrides it, e.g. while polc does not build).
std::string polc();
/// A fresh directory under /tmp, removed by the caller (TempDir does).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string path_;
};
/// A lab name unique to this process and `tag`: [a-z0-9]{1,16}.
std::string unique_lab(const std::string& tag);

/// Tears the lab down on destruction (also when the test failed half-way) and reports leftovers.
class LabGuard {
 public:
  explicit LabGuard(std::string lab) : lab_(std::move(lab)) {}
  ~LabGuard();
  LabGuard(const LabGuard&) = delete;
  LabGuard& operator=(const LabGuard&) = delete;
  [[nodiscard]] const std::string& name() const { return lab_; }

 private:
  std::string lab_;
};

/// Empty when nothing of the lab is left (namespaces, state dir, pins); else what is left.
std::vector<std::string> leftovers(const std::string& lab);

struct PairReport {
  int probes = 0;
  int same_node = 0;   ///< probes between pods on one node
  int cross_node = 0;  ///< probes between pods on different nodes
  std::vector<std::string> failures;
};
/// Serves TCP and UDP on every declared port number of every pod (8000 when it declares none),
/// then probes every ordered pod pair (self included) on each of the destination's ports with
/// both protocols, from inside the source pod's namespace.
PairReport probe_all_pairs(const LabState& s, int timeout_ms = 1000);

}  // namespace polc::runtime::testing
