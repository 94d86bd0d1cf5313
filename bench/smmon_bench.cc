// smmon_bench: standalone SM_MON load generator and daemon start-up probe for the NSM
// benchmark (bench/run.sh). No dependency on the nsm library: it has its own minimal
// XDR / ONC RPC (RFC 5531) encoding over plain sockets and std::thread.
//
// Modes (each prints one JSON line on stdout; diagnostics go to stderr):
//   mon    --port P --count N [--start S] [--callers C] [--per-call] [--deadline SEC]
//          [--timeout SEC] [--my-name NAME] [--window W] [--levels L1,L2,...] [--max-fail F]
//          C callers (threads), each with its own TCP connection to 127.0.0.1:P and one call
//          outstanding (or, with --per-call, one connection per call like the kernel), send
//          SM_MON for distinct names (IP literals in 198.18.0.0/15, index S..S+N-1) until N
//          calls are done or the deadline passes; each reply is verified (accepted,
//          SUCCESS, stat_succ, odd state). Reports throughput and p50/p99/max latency, and
//          p50/p99 over the W calls that brought the list to each level L.
//   spawn  --port P [--timeout SEC] [--log FILE] -- PROGRAM ARGS...
//          fork+exec PROGRAM, poll NULL over UDP to 127.0.0.1:P every 2 ms, report the time
//          from exec until the first answer, the daemon's pid and its VmRSS. The daemon is
//          left running (the caller stops it by pid).
//   gen-sm --dir DIR --count N [--start S] [--my-name NAME]
//          write N monitor records in nfs-utils' legacy sm/ format (one file per host).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kSmProg = 100024, kSmVers = 1, kSmMon = 2, kNull = 0;

struct Options {
  std::map<std::string, std::string> kv;
  std::vector<std::string> rest;  // after "--"
  std::string Get(const std::string& k, const std::string& def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : it->second;
  }
  long Num(const std::string& k, long def) const { return std::stol(Get(k, std::to_string(def))); }
  double Real(const std::string& k, double def) const {
    auto it = kv.find(k);
    return it == kv.end() ? def : std::stod(it->second);
  }
  bool Has(const std::string& k) const { return kv.count(k) != 0; }
};

// --- XDR ------------------------------------------------------------------------------
void PutU32(std::string& b, uint32_t v) {
  uint32_t n = htonl(v);
  b.append(reinterpret_cast<const char*>(&n), 4);
}
void PutString(std::string& b, const std::string& s) {
  PutU32(b, static_cast<uint32_t>(s.size()));
  b += s;
  b.append((4 - s.size() % 4) % 4, '\0');
}
std::string CallHeader(uint32_t xid, uint32_t proc) {
  std::string b;
  for (uint32_t v : {xid, 0u /*CALL*/, 2u /*rpcvers*/, kSmProg, kSmVers, proc, 0u, 0u, 0u, 0u})
    PutU32(b, v);  // ends with cred AUTH_NULL (flavor, len) and verf AUTH_NULL
  return b;
}

// The i-th monitored name: an IP literal in 198.18.0.0/15 (131,072 names).
std::string MonName(long i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "198.%ld.%ld.%ld", 18 + ((i >> 16) & 1), (i >> 8) & 255, i & 255);
  return buf;
}
std::string Priv(long i) {  // 16 bytes, distinct per name
  std::string p(16, '\0');
  for (int k = 0; k < 8; ++k) p[k] = static_cast<char>((i >> (8 * (7 - k))) & 255);
  std::memcpy(p.data() + 8, "nsmbench", 8);
  return p;
}
std::string SmMonCall(uint32_t xid, long i, const std::string& my_name) {
  std::string b = CallHeader(xid, kSmMon);
  PutString(b, MonName(i));
  PutString(b, my_name);
  PutU32(b, 100021);
  PutU32(b, 3);
  PutU32(b, 16);
  b += Priv(i);
  return b;
}

// Failure categories of one call.
enum Fail { kOk = 0, kIo, kTimeout, kBadReply, kDenied, kNotSuccess, kStatFail, kEvenState, kNF };
const char* const kFailNames[kNF] = {"ok",     "io",          "timeout",   "bad_reply",
                                     "denied", "not_success", "stat_fail", "even_state"};

// Parses an RPC reply up to the results; returns kOk and sets *res to the result body.
Fail ParseReply(const std::string& r, uint32_t xid, size_t* res) {
  auto u32 = [&](size_t off) {
    uint32_t v;
    std::memcpy(&v, r.data() + off, 4);
    return ntohl(v);
  };
  if (r.size() < 12 || u32(0) != xid || u32(4) != 1) return kBadReply;
  if (u32(8) != 0) return kDenied;
  if (r.size() < 24) return kBadReply;
  size_t off = 20 + ((u32(16) + 3) & ~3u) + 4;  // verifier flavor, length, body; accept_stat
  if (r.size() < off) return kBadReply;
  if (u32(off - 4) != 0) return kNotSuccess;
  *res = off;
  return kOk;
}
Fail CheckSmStatRes(const std::string& r, uint32_t xid) {
  size_t off = 0;
  Fail f = ParseReply(r, xid, &off);
  if (f != kOk) return f;
  if (r.size() < off + 8) return kBadReply;
  uint32_t stat, state;
  std::memcpy(&stat, r.data() + off, 4);
  std::memcpy(&state, r.data() + off + 4, 4);
  if (ntohl(stat) != 0) return kStatFail;
  if ((ntohl(state) & 1) == 0) return kEvenState;
  return kOk;
}

// --- TCP transport (record marking) ------------------------------------------------------
Fail IoError() { return (errno == EAGAIN || errno == EWOULDBLOCK) ? kTimeout : kIo; }

int ConnectTcp(int port, double timeout_s) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  timeval tv{static_cast<time_t>(timeout_s),
             static_cast<suseconds_t>((timeout_s - std::floor(timeout_s)) * 1e6)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}
bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}
bool ReadAll(int fd, char* p, size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      if (r == 0) errno = ECONNRESET;
      return false;
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}
// One call over a connected TCP socket; *reply gets the whole reassembled record.
Fail TcpCall(int fd, const std::string& msg, std::string* reply) {
  std::string rec;
  PutU32(rec, 0x80000000u | static_cast<uint32_t>(msg.size()));
  rec += msg;
  if (!WriteAll(fd, rec.data(), rec.size())) return IoError();
  reply->clear();
  for (bool last = false; !last;) {
    uint32_t mark;
    if (!ReadAll(fd, reinterpret_cast<char*>(&mark), 4)) return IoError();
    mark = ntohl(mark);
    last = (mark & 0x80000000u) != 0;
    size_t len = mark & 0x7fffffffu, old = reply->size();
    if (len > (1u << 20) || old + len > (1u << 22)) return kBadReply;
    reply->resize(old + len);
    if (!ReadAll(fd, reply->data() + old, len)) return IoError();
  }
  return kOk;
}

// --- statistics ------------------------------------------------------------------------
double Pct(std::vector<double> v, double q) {  // nearest rank, v in any order
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t k = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(k, 1, v.size()) - 1];
}
std::string Num(double v, int prec = 3) {
  if (std::isnan(v)) return "null";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

struct Sample {
  long seq;  // completion order, 1-based
  double ms;
  Fail fail;
};

int RunMon(const Options& o) {
  const int port = static_cast<int>(o.Num("port", 0));
  const long count = o.Num("count", 1000), start = o.Num("start", 0);
  const int callers = static_cast<int>(o.Num("callers", 1));
  const bool per_call = o.Has("per-call");
  const double deadline_s = o.Real("deadline", 0), timeout_s = o.Real("timeout", 300);
  const long window = o.Num("window", 100), max_fail = o.Num("max-fail", 100);
  const std::string my_name = o.Get("my-name", "bench-client");
  if (port <= 0 || count <= 0 || callers <= 0 || start < 0 || start + count > 131072) {
    std::fprintf(stderr, "mon: need --port, 0 < --count, --start+--count <= 131072\n");
    return 2;
  }
  std::vector<long> levels;
  for (std::string s = o.Get("levels", ""); !s.empty();) {
    size_t c = s.find(',');
    levels.push_back(std::stol(s.substr(0, c)));
    s = c == std::string::npos ? "" : s.substr(c + 1);
  }

  std::atomic<long> next{0}, seq{0}, fails{0};
  std::atomic<bool> stop{false};
  std::atomic<int> stop_reason{0};  // 0 done, 1 deadline, 2 too many failures
  std::vector<std::vector<Sample>> per_thread(static_cast<size_t>(callers));
  const auto t0 = Clock::now();
  const auto deadline =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(deadline_s));
  auto worker = [&](int t) {
    auto& out = per_thread[static_cast<size_t>(t)];
    int fd = -1;
    std::string reply;
    while (!stop.load()) {
      if (deadline_s > 0 && Clock::now() >= deadline) {
        stop_reason.store(1);
        break;
      }
      long i = next.fetch_add(1);
      if (i >= count) break;
      uint32_t xid = static_cast<uint32_t>(0x5eed0000u + static_cast<uint32_t>(i));
      std::string msg = SmMonCall(xid, start + i, my_name);
      auto c0 = Clock::now();
      Fail f = kOk;
      if (fd < 0) fd = ConnectTcp(port, timeout_s);
      if (fd < 0) f = IoError();
      if (f == kOk) f = TcpCall(fd, msg, &reply);
      if (f == kOk) f = CheckSmStatRes(reply, xid);
      double ms = std::chrono::duration<double, std::milli>(Clock::now() - c0).count();
      if (fd >= 0 && (per_call || f == kIo || f == kTimeout || f == kBadReply)) {
        close(fd);
        fd = -1;
      }
      out.push_back({seq.fetch_add(1) + 1, ms, f});
      if (f != kOk && fails.fetch_add(1) + 1 >= max_fail) {
        stop_reason.store(2);
        stop.store(true);
      }
    }
    if (fd >= 0) close(fd);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < callers; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();

  std::vector<Sample> all;
  for (auto& v : per_thread) all.insert(all.end(), v.begin(), v.end());
  std::sort(all.begin(), all.end(), [](const Sample& a, const Sample& b) { return a.seq < b.seq; });
  std::vector<double> ok_ms;
  long by_fail[kNF] = {};
  for (const auto& s : all) {
    ++by_fail[s.fail];
    if (s.fail == kOk) ok_ms.push_back(s.ms);
  }
  const long ok = by_fail[kOk], calls = static_cast<long>(all.size());
  double mean = 0;
  for (double v : ok_ms) mean += v / static_cast<double>(ok_ms.size());

  std::string j = "{\"mode\":\"mon\",\"transport\":\"tcp\",\"connection\":\"";
  j += per_call ? "per-call" : "per-caller";
  j += "\",\"callers\":" + std::to_string(callers) + ",\"requested\":" + std::to_string(count) +
       ",\"start\":" + std::to_string(start) + ",\"calls\":" + std::to_string(calls) +
       ",\"ok\":" + std::to_string(ok) + ",\"fail\":" + std::to_string(calls - ok) +
       ",\"fail_reasons\":{";
  bool first = true;
  for (int k = 1; k < kNF; ++k) {
    if (by_fail[k] == 0) continue;
    j += std::string(first ? "" : ",") + "\"" + kFailNames[k] + "\":" + std::to_string(by_fail[k]);
    first = false;
  }
  static const char* const kStop[] = {"done", "deadline", "max-fail"};
  j += "},\"stopped_by\":\"" + std::string(kStop[stop_reason.load()]) +
       "\",\"elapsed_s\":" + Num(elapsed) +
       ",\"throughput_per_s\":" + Num(elapsed > 0 ? static_cast<double>(ok) / elapsed : NAN, 2) +
       ",\"lat_ms\":{\"mean\":" + Num(ok_ms.empty() ? NAN : mean) +
       ",\"p50\":" + Num(Pct(ok_ms, 0.50)) + ",\"p90\":" + Num(Pct(ok_ms, 0.90)) +
       ",\"p99\":" + Num(Pct(ok_ms, 0.99)) +
       ",\"max\":" + Num(ok_ms.empty() ? NAN : *std::max_element(ok_ms.begin(), ok_ms.end())) +
       "},\"levels\":[";
  // Level L: the `window` calls whose completion brought the list (start + completed calls)
  // from L-window to L. Only levels reached and only successful calls count.
  first = true;
  for (long level : levels) {
    if (level - start < window || level - start > calls) continue;
    std::vector<double> w;
    for (long s = level - start - window; s < level - start; ++s)
      if (all[static_cast<size_t>(s)].fail == kOk) w.push_back(all[static_cast<size_t>(s)].ms);
    j += std::string(first ? "" : ",") + "{\"level\":" + std::to_string(level) +
         ",\"window\":" + std::to_string(window) + ",\"n\":" + std::to_string(w.size()) +
         ",\"p50_ms\":" + Num(Pct(w, 0.5)) + ",\"p99_ms\":" + Num(Pct(w, 0.99)) + "}";
    first = false;
  }
  j += "]}";
  std::printf("%s\n", j.c_str());
  return 0;
}

// --- spawn: start-up time to the first NULL answer over UDP ------------------------------
long VmRssKb(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

int RunSpawn(const Options& o) {
  const int port = static_cast<int>(o.Num("port", 0));
  const double timeout_s = o.Real("timeout", 600);
  if (port <= 0 || o.rest.empty()) {
    std::fprintf(stderr, "spawn: need --port P -- PROGRAM ARGS...\n");
    return 2;
  }
  int ufd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);  // unconnected: no ICMP errors
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<char*> argv;
  for (const auto& a : o.rest) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::string log = o.Get("log", "/dev/null");

  const auto t0 = Clock::now();
  pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    int lfd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (lfd >= 0) {
      dup2(lfd, 1);
      dup2(lfd, 2);
    }
    execv(argv[0], argv.data());
    std::perror("execv");
    _exit(127);
  }
  uint32_t xid = 0x0b5e0000u;
  char buf[512];
  while (true) {
    double el = std::chrono::duration<double>(Clock::now() - t0).count();
    int st = 0;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      std::printf("{\"mode\":\"spawn\",\"ready\":false,\"error\":\"exited\",\"status\":%d}\n", st);
      return 1;
    }
    if (el > timeout_s) {
      std::printf(
          "{\"mode\":\"spawn\",\"ready\":false,\"error\":\"timeout\",\"pid\":%d,"
          "\"waited_s\":%s}\n",
          pid, Num(el).c_str());
      return 1;
    }
    std::string call = CallHeader(++xid, kNull);
    sendto(ufd, call.data(), call.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    pollfd p{ufd, POLLIN, 0};
    auto until = Clock::now() + std::chrono::milliseconds(2);
    while (poll(&p, 1, 2) > 0) {
      ssize_t n = recv(ufd, buf, sizeof buf, 0);
      size_t off = 0;
      if (n > 0 && ParseReply(std::string(buf, static_cast<size_t>(n)), xid, &off) == kOk) {
        double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        std::printf(
            "{\"mode\":\"spawn\",\"ready\":true,\"pid\":%d,\"startup_ms\":%s,"
            "\"rss_kb\":%ld}\n",
            pid, Num(ms).c_str(), VmRssKb(pid));
        return 0;
      }
      if (Clock::now() >= until) break;
    }
  }
}

// --- gen-sm: legacy nfs-utils monitor files --------------------------------------------
int RunGenSm(const Options& o) {
  const std::string dir = o.Get("dir", "");
  const long count = o.Num("count", 0), start = o.Num("start", 0);
  const std::string my_name = o.Get("my-name", "bench-client");
  if (dir.empty() || count <= 0 || start < 0 || start + count > 131072) {
    std::fprintf(stderr, "gen-sm: need --dir DIR --count N (start+count <= 131072)\n");
    return 2;
  }
  for (long i = start; i < start + count; ++i) {
    // <addr> <prog> <vers> <proc> <priv> <mon_name> <my_name>, as nsm_insert_monitored_host.
    std::string name = MonName(i), priv = Priv(i), line;
    char head[64];
    std::snprintf(head, sizeof head, "%08x %08x %08x %08x ", htonl(INADDR_LOOPBACK), 100021u, 3u,
                  16u);
    line = head;
    for (unsigned char c : priv) {
      char h[3];
      std::snprintf(h, sizeof h, "%02x", c);
      line += h;
    }
    line += " " + name + " " + my_name + "\n";
    std::string path = dir + "/" + name;
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
      std::perror(path.c_str());
      return 1;
    }
    close(fd);
  }
  std::printf("{\"mode\":\"gen-sm\",\"written\":%ld}\n", count);
  return 0;
}

Options ParseArgs(int argc, char** argv, int from) {
  Options o;
  for (int i = from; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      for (++i; i < argc; ++i) o.rest.emplace_back(argv[i]);
      break;
    }
    if (a.rfind("--", 0) != 0) continue;
    a = a.substr(2);
    size_t eq = a.find('=');
    if (eq != std::string::npos) {
      o.kv[a.substr(0, eq)] = a.substr(eq + 1);
    } else if (a == "per-call") {
      o.kv[a] = "1";
    } else if (i + 1 < argc) {
      o.kv[a] = argv[++i];
    }
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s mon|spawn|gen-sm [options] (see the file's header)\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1];
  Options o = ParseArgs(argc, argv, 2);
  try {
    if (mode == "mon") return RunMon(o);
    if (mode == "spawn") return RunSpawn(o);
    if (mode == "gen-sm") return RunGenSm(o);
  } catch (const std::exception& e) {  // bad numeric option
    std::fprintf(stderr, "%s: bad option: %s\n", argv[0], e.what());
    return 2;
  }
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
