// Status helpers.
#include "base/status.h"

#include <cerrno>
#include <cstring>

namespace nsm {

const char* CodeName(Code c) {
  switch (c) {
    case Code::kOk:
      return "ok";
    case Code::kInvalidArgument:
      return "invalid argument";
    case Code::kNotFound:
      return "not found";
    case Code::kIoError:
      return "I/O error";
    case Code::kCorruption:
      return "corruption";
    case Code::kBusy:
      return "busy";
    case Code::kTimeout:
      return "timeout";
    case Code::kUnavailable:
      return "unavailable";
    case Code::kPermission:
      return "permission denied";
    case Code::kNoSpace:
      return "no space";
    case Code::kFull:
      return "full";
    case Code::kInternal:
      return "internal error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

Status ErrnoStatus(const std::string& context, int err) {
  Code c = Code::kIoError;
  if (err == ENOSPC || err == EDQUOT) c = Code::kNoSpace;
  if (err == EACCES || err == EPERM || err == EROFS) c = Code::kPermission;
  if (err == ENOENT) c = Code::kNotFound;
  return Status(c, context + ": " + std::strerror(err));
}

}  // namespace nsm
