// The loader never crashes or hangs, whatever it is fed: seeded random bytes, and seeded mutations
// of the samples and the diagnostics fixtures, go through the same entry function as the YAML
// fuzzer (load, finalize, dump, evaluate probes). A watchdog aborts with the offending input
// (hex) when one input takes too long.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "fuzz_entries.h"

namespace polc::fuzz {
namespace {

namespace fs = std::filesystem;

/// Aborts the process when one input runs longer than `limit`, printing the input.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit) : limit_(limit), thread_([this] { run(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void begin(const std::string& input) {
    std::lock_guard<std::mutex> g(mu_);
    input_ = input;
    started_ = std::chrono::steady_clock::now();
    busy_ = true;
  }
  void end() {
    std::lock_guard<std::mutex> g(mu_);
    busy_ = false;
  }

 private:
  void run() {
    std::unique_lock<std::mutex> lk(mu_);
    while (!stop_) {
      cv_.wait_for(lk, std::chrono::milliseconds(200));
      if (busy_ && std::chrono::steady_clock::now() - started_ > limit_) {
        std::fprintf(stderr, "garbage_test: one input ran longer than %llds; input (hex):\n",
                     static_cast<long long>(limit_.count()));
        for (unsigned char c : input_) std::fprintf(stderr, "%02x", c);
        std::fprintf(stderr, "\n");
        std::abort();
      }
    }
  }
  std::chrono::seconds limit_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string input_;
  std::chrono::steady_clock::time_point started_;
  bool busy_ = false;
  bool stop_ = false;
  std::thread thread_;
};

void feed(Watchdog& dog, const std::string& input) {
  dog.begin(input);
  std::string why = yaml_to_ir(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  dog.end();
  if (!why.empty()) {
    std::string hex;
    for (unsigned char c : input) {
      char b[3];
      std::snprintf(b, sizeof b, "%02x", c);
      hex += b;
    }
    ADD_FAILURE() << why << "\ninput (hex): " << hex;
  }
}

std::vector<std::string> seed_texts() {
  std::vector<std::string> out;
  for (const char* dir : {"samples", "tests/frontend/inputs"})
    for (const auto& e : fs::recursive_directory_iterator(fs::path(POLC_SOURCE_DIR) / dir)) {
      auto ext = e.path().extension();
      if (!e.is_regular_file() || (ext != ".yaml" && ext != ".yml" && ext != ".json")) continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      out.push_back(ss.str());
    }
  std::sort(out.begin(), out.end());
  return out;
}

/// Tokens that matter to YAML or to the schema, used by the mutator.
const std::vector<std::string>& tokens() {
  static const std::vector<std::string> t{"\n",
                                          " ",
                                          "  ",
                                          "- ",
                                          ": ",
                                          "{",
                                          "}",
                                          "[",
                                          "]",
                                          ",",
                                          "'",
                                          "\"",
                                          "#",
                                          "&a ",
                                          "*a",
                                          "!!str ",
                                          "|",
                                          ">",
                                          "---\n",
                                          "...\n",
                                          "~",
                                          "null",
                                          "[]",
                                          "{}",
                                          "0",
                                          "-1",
                                          "65536",
                                          "99999999999999999999",
                                          "1e9",
                                          "0x10",
                                          "true",
                                          "\t",
                                          "\xff\xfe",
                                          "\xc3\x28",
                                          "10.0.0.0/33",
                                          "1.2.3.4/8",
                                          "::/0",
                                          "0.0.0.0/0",
                                          "kind: List\nitems:\n",
                                          "In",
                                          "NotIn",
                                          "Exists",
                                          "matchLabels",
                                          "port",
                                          "endPort",
                                          "http",
                                          "(",
                                          ")",
                                          "*",
                                          "\\",
                                          "a{1000}",
                                          "ingress: [{}]\n",
                                          "toPorts",
                                          "fromEndpoints: []",
                                          "reserved:host",
                                          "k8s:io.kubernetes.pod.namespace",
                                          std::string("\0", 1)};
  return t;
}

std::string mutate(const std::string& seed, std::mt19937& rng) {
  std::string s = seed;
  int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits; ++i) {
    size_t pos = s.empty() ? 0 : rng() % (s.size() + 1);
    switch (rng() % 7) {
      case 0:  // flip a byte
        if (!s.empty()) s[pos % s.size()] = static_cast<char>(rng() & 0xff);
        break;
      case 1:  // insert a token
        s.insert(pos, tokens()[rng() % tokens().size()]);
        break;
      case 2:  // delete a range
        if (!s.empty()) s.erase(pos % s.size(), 1 + rng() % 16);
        break;
      case 3: {  // duplicate a range
        if (s.empty()) break;
        size_t from = pos % s.size();
        std::string chunk = s.substr(from, 1 + rng() % 64);
        s.insert(rng() % (s.size() + 1), chunk);
        break;
      }
      case 4:  // truncate
        s.resize(pos);
        break;
      case 5: {  // change indentation of one line
        size_t nl = s.rfind('\n', pos == 0 ? 0 : pos - 1);
        size_t at = nl == std::string::npos ? 0 : nl + 1;
        if (rng() % 2 && at < s.size() && s[at] == ' ')
          s.erase(at, 1);
        else
          s.insert(at, " ");
        break;
      }
      case 6: {  // replace the value after a ':' with a token
        size_t colon = s.find(": ", pos);
        if (colon == std::string::npos) break;
        size_t end = s.find('\n', colon);
        s.replace(colon + 2, (end == std::string::npos ? s.size() : end) - colon - 2,
                  tokens()[rng() % tokens().size()]);
        break;
      }
    }
  }
  return s;
}

TEST(Garbage, RandomBytesNeverCrashOrHang) {
  Watchdog dog(std::chrono::seconds(10));
  std::mt19937 rng(20261122);
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 :-{}[],'\"#&*!|>\n\t./\\";
  for (int i = 0; i < 1500; ++i) {
    std::string s(rng() % 300, '\0');
    bool binary = i % 3 == 0;
    for (auto& c : s) c = binary ? static_cast<char>(rng() & 0xff) : alphabet[rng() % alphabet.size()];
    feed(dog, s);
    if (HasFailure()) return;
  }
}

TEST(Garbage, MutatedSamplesNeverCrashOrHang) {
  auto seeds = seed_texts();
  ASSERT_FALSE(seeds.empty());
  Watchdog dog(std::chrono::seconds(10));
  std::mt19937 rng(7);
  // A fixed total, spread over however many seeds exist, keeps the run time bounded.
  const size_t total = 2500;
  for (size_t i = 0; i < total; ++i) {
    const std::string& seed = seeds[i % seeds.size()];
    feed(dog, mutate(seed, rng));
    if (HasFailure()) return;
  }
}

}  // namespace
}  // namespace polc::fuzz
