// Logging to syslog (daemon facility) or stderr. Messages are built by
// concatenating arguments with operator<<, never by a printf format, so a remote
// string can never be a format string (CVE-2000-0666). Wrap remote strings in
// log::Quoted() so control characters are escaped. Thread-safe.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace nsm::log {

enum class Level { kDebug = 0, kInfo, kNotice, kWarning, kError };

// Call once at start. ident is the program name used in syslog and on stderr.
void Init(std::string ident, bool to_syslog, Level min_level = Level::kInfo);
void SetLevel(Level min_level);
bool Enabled(Level level);
void Write(Level level, const std::string& message);

// A remote-controlled string, rendered in double quotes with non-printable bytes
// escaped as \xNN and truncated to 256 bytes.
struct Quoted {
  std::string_view text;
};
std::ostream& operator<<(std::ostream& os, Quoted q);

template <class... Args>
void Log(Level level, const Args&... args) {
  if (!Enabled(level)) return;
  std::ostringstream os;
  (os << ... << args);
  Write(level, os.str());
}

template <class... Args>
void Debug(const Args&... a) {
  Log(Level::kDebug, a...);
}
template <class... Args>
void Info(const Args&... a) {
  Log(Level::kInfo, a...);
}
template <class... Args>
void Notice(const Args&... a) {
  Log(Level::kNotice, a...);
}
template <class... Args>
void Warning(const Args&... a) {
  Log(Level::kWarning, a...);
}
template <class... Args>
void Error(const Args&... a) {
  Log(Level::kError, a...);
}

}  // namespace nsm::log
