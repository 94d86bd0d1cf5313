// Log sink: syslog or stderr, serialised by a mutex.
#include "base/log.h"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace nsm::log {
namespace {
std::mutex g_mu;
std::string g_ident = "nsm";
bool g_syslog = false;
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

int SyslogPriority(Level l) {
  switch (l) {
    case Level::kDebug:
      return LOG_DEBUG;
    case Level::kInfo:
      return LOG_INFO;
    case Level::kNotice:
      return LOG_NOTICE;
    case Level::kWarning:
      return LOG_WARNING;
    case Level::kError:
      return LOG_ERR;
  }
  return LOG_INFO;
}
const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kNotice:
      return "notice";
    case Level::kWarning:
      return "warning";
    case Level::kError:
      return "error";
  }
  return "?";
}
}  // namespace

void Init(std::string ident, bool to_syslog, Level min_level) {
  std::lock_guard<std::mutex> lock(g_mu);
  g_ident = std::move(ident);
  g_syslog = to_syslog;
  g_level = static_cast<int>(min_level);
  if (g_syslog) openlog(g_ident.c_str(), LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void SetLevel(Level min_level) { g_level = static_cast<int>(min_level); }
bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

void Write(Level level, const std::string& message) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_syslog) {
    syslog(SyslogPriority(level), "%s", message.c_str());
    return;
  }
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm tmv{};
  gmtime_r(&ts.tv_sec, &tmv);
  char when[32];
  strftime(when, sizeof when, "%H:%M:%S", &tmv);
  std::fprintf(stderr, "%s.%03ld %s[%d]: %s: %s\n", when, ts.tv_nsec / 1000000L, g_ident.c_str(),
               static_cast<int>(getpid()), LevelName(level), message.c_str());
  std::fflush(stderr);
}

std::ostream& operator<<(std::ostream& os, Quoted q) {
  static const char kHex[] = "0123456789abcdef";
  os << '"';
  size_t n = 0;
  for (unsigned char c : q.text) {
    if (++n > 256) {
      os << "...";
      break;
    }
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      os << static_cast<char>(c);
    } else {
      os << "\\x" << kHex[c >> 4] << kHex[c & 15];
    }
  }
  return os << '"';
}

}  // namespace nsm::log
