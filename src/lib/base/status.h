// Status and Result<T>: the error currency of libnsm. No exceptions cross module
// boundaries; every fallible call returns one of these. Cheap to copy when ok.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace nsm {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // caller's input is malformed or out of range
  kNotFound,
  kIoError,     // a system call failed (errno text in the message)
  kCorruption,  // stored data is damaged; never silently replaced
  kBusy,        // another process holds a lock; try later
  kTimeout,
  kUnavailable,  // a peer or helper process is not there
  kPermission,
  kNoSpace,  // disk full
  kFull,     // a bounded queue or table is full
  kInternal,
};

const char* CodeName(Code c);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "ok" or "<code name>: <message>".
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Builds a Status from errno (or an explicit error number) with a context prefix.
Status ErrnoStatus(const std::string& context, int err);

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status s) : v_(std::move(s)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace nsm
