// Result<T> and Status: how every runtime operation reports failure (no exceptions cross the
// library boundary). The runtime depends only on the backend's output format, not on ir/, so it
// keeps its own copy of the small value type that ir/result.h defines for the compiler layers.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace polc::runtime {

/// A failure with a message that names the object and the cause, e.g.
/// "creating veth pl1a2b3c4d in netns pl-demo-n-node-1: File exists".
struct Error {
  std::string message;
};

/// Either a value or an Error. Must be checked; accessing the wrong side asserts.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & {
    assert(ok() && "Result::value() on an error");
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok() && "Result::value() on an error");
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok() && "Result::value() on an error");
    return std::get<0>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  [[nodiscard]] const Error& error() const {
    assert(!ok() && "Result::error() on a value");
    return std::get<1>(v_);
  }

 private:
  std::variant<T, Error> v_;
};

/// Result of an operation that yields no value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error e) : error_(std::move(e)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  [[nodiscard]] bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  [[nodiscard]] const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

/// "what: strerror(err)", for failures of system calls.
[[nodiscard]] Error sys_error(const std::string& what, int err);

}  // namespace polc::runtime
