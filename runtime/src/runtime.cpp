#include "polc/runtime/runtime.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

#include "libbpf_log.h"

namespace polc::runtime {

const char* libbpf_version() {
  static std::string v = std::to_string(libbpf_major_version()) + "." + std::to_string(libbpf_minor_version());
  return v.c_str();
}

namespace {

thread_local std::string captured;

int print_fn(libbpf_print_level level, const char* fmt, va_list args) {
  static const bool debug = std::getenv("POLNODE_LIBBPF_DEBUG") != nullptr;
  char buf[1024];
  va_list copy;
  va_copy(copy, args);
  std::vsnprintf(buf, sizeof buf, fmt, copy);
  va_end(copy);
  if (debug) std::fputs(buf, stderr);
  if (level == LIBBPF_DEBUG) return 0;
  std::string line = buf;
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  if (line.rfind("libbpf: ", 0) == 0) line.erase(0, 8);
  if (line.empty()) return 0;
  if (!captured.empty()) captured += "; ";
  captured += line;
  return 0;
}

}  // namespace

void libbpf_log_begin() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(print_fn); });
  captured.clear();
}

std::string libbpf_log_take() {
  std::string s = std::move(captured);
  captured.clear();
  return s;
}

}  // namespace polc::runtime
