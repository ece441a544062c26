// Errors as values. A Result<T> holds either a T or an Error; Status is a
// Result with no value. We use our own type rather than std::expected so the
// pure layers (protocol, auth, config) also build with clang 14 for fuzzing.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace usher {

// An error with a PostgreSQL SQLSTATE (five characters, e.g. "08P01") where
// it is sent to a client, or an empty code for errors that only get logged.
struct Error {
  std::string sqlstate;
  std::string message;
};

inline Error make_error(std::string sqlstate, std::string message) {
  return Error{std::move(sqlstate), std::move(message)};
}

struct Ok {};

// The value and the error sit side by side rather than in a std::variant:
// Results are made, moved and dropped several times per message relayed,
// and a variant of non-trivial types pays a visit for each of those. The
// error, the rare case, is behind a pointer so that moving costs nothing.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Error error) : error_(std::make_unique<Error>(std::move(error))) {}  // NOLINT
  Result(Result&&) noexcept = default;
  Result& operator=(Result&&) noexcept = default;
  Result(const Result& other) : value_(other.value_) {
    if (other.error_) error_ = std::make_unique<Error>(*other.error_);
  }
  Result& operator=(const Result& other) {
    if (this != &other) *this = Result(other);
    return *this;
  }

  bool ok() const { return error_ == nullptr; }
  explicit operator bool() const { return ok(); }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return *error_; }
  Error&& take_error() { return std::move(*error_); }

 private:
  std::optional<T> value_;
  std::unique_ptr<Error> error_;
};

using Status = Result<Ok>;
inline Status ok_status() {
  return Ok{};
}

}  // namespace usher
