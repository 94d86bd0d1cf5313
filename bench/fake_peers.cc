// fake_peers: the peers of the sm-notify benchmark (bench/smnotify_bench.sh). Standalone:
// its own minimal XDR / ONC RPC (RFC 5531) over plain sockets, no nsm library.
//
// Peers: the N live and B black-hole peers of a run are positions k = 0..N+B-1, peer k at
// 198.18.(k/250).(k%250+1) (N+B <= 64,000), the black holes spread evenly (interleaved
// with live ones by creation and by name order). The benchmark makes 198.18.0.0/16 local
// and routes each black hole (a /32, gen --routes) to a tun device nobody reads: they
// never answer anything (UDP vanishes, TCP SYNs time out) and never reach this process.
//
// Modes (each prints one JSON line on stdout; diagnostics go to stderr):
//   gen   --dir DIR --live N [--blackholes B] [--my-name NAME] [--routes FILE]
//         write nfs-utils' legacy sm/ files (one per peer, named by its address, mon_name =
//         the address, created in position order) and, with --routes, an `ip -batch` file
//         routing each black hole to dev bh0 (table local, proto 99).
//   serve --sm-port P --live N [--blackholes B] [--timeout SEC] [--log FILE]
//         [--stop-after-live MS] [--times FILE] -- PROG ARGS
//         bind 0.0.0.0:111 and 0.0.0.0:P, UDP and TCP (wildcard binds answer for every local
//         address; replies leave from the address called), answer portmap v2 GETPORT and
//         rpcbind v3/v4 GETADDR for 100024 v1 with P, and every SM_NOTIFY; fork+exec PROG
//         (output to FILE), serve until it exits (killed after SEC s). Records each live
//         address's first SM_NOTIFY (time since just before the fork); reports when all
//         had one, the longest pause, run time, call counts, /proc/net/snmp Udp changes.
//         --stop-after-live MS: SIGTERM PROG MS ms after every live peer was notified
//         (repeated black-hole runs then need not wait for -m; run_ms is then not -m).
//         --times FILE: every live peer's first SM_NOTIFY (ms after the fork), one a line.
//         The report adds sm-notify's CPU time (child_user_ms, child_sys_ms, from wait4)
//         and the fake peers' own (peers_cpu_ms).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kPmapProg = 100000, kSmProg = 100024, kMaxPeers = 250 * 256;

// The plan of one run: which positions are black holes.
struct Plan {
  long live = 0, bh = 0;
  long Total() const { return live + bh; }
  // B of the N+B positions, evenly spread: k is one when floor((k+1)B/T) > floor(kB/T).
  bool Blackhole(long k) const { return (k + 1) * bh / Total() > k * bh / Total(); }
  bool Valid() const { return live > 0 && bh >= 0 && Total() <= kMaxPeers; }
};

std::string Addr(long k) {
  char b[32];
  std::snprintf(b, sizeof b, "198.18.%ld.%ld", k / 250, k % 250 + 1);
  return b;
}
// Position of a peer address (host order), or -1.
long Position(uint32_t a, const Plan& plan) {
  if ((a >> 16) != ((198u << 8) | 18u)) return -1;
  long third = (a >> 8) & 255, fourth = a & 255;
  if (fourth < 1 || fourth > 250) return -1;
  long k = third * 250 + fourth - 1;
  return k < plan.Total() ? k : -1;
}

struct Options {
  std::map<std::string, std::string> kv;
  std::vector<char*> rest;  // after "--"
  std::string Get(const std::string& k, const std::string& d) const {
    auto it = kv.find(k);
    return it == kv.end() ? d : it->second;
  }
  long Num(const std::string& k, long d) const { return std::stol(Get(k, std::to_string(d))); }
};

// --- gen -------------------------------------------------------------------------------
int WriteSm(const std::string& dir, const std::string& name, long i, const std::string& my) {
  char line[256];
  // <callback addr> <prog> <vers> <proc> <priv> <mon_name> <my_name>, as nfs-utils writes.
  std::snprintf(line, sizeof line, "%08x %08x %08x %08x %016lx6e736d62656e6368 %s %s\n",
                htonl(INADDR_LOOPBACK), 100021u, 3u, 16u, i, name.c_str(), my.c_str());
  std::string path = dir + "/" + name;
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ssize_t len = static_cast<ssize_t>(std::strlen(line));
  bool ok = fd >= 0 && write(fd, line, len) == len;
  if (fd >= 0) close(fd);
  if (!ok) std::perror(path.c_str());
  return ok ? 0 : 1;
}

int RunGen(const Options& o) {
  const std::string dir = o.Get("dir", ""), my = o.Get("my-name", "bench-client"),
                    routes = o.Get("routes", "");
  Plan plan{o.Num("live", 0), o.Num("blackholes", 0)};
  if (dir.empty() || !plan.Valid()) {
    std::fprintf(stderr, "gen: need --dir DIR --live N [--blackholes B] (N+B <= %u)\n", kMaxPeers);
    return 2;
  }
  std::string batch;
  for (long k = 0; k < plan.Total(); ++k) {
    if (WriteSm(dir, Addr(k), k, my)) return 1;
    if (plan.Blackhole(k))
      batch += "route add table local " + Addr(k) + "/32 dev bh0 src 10.255.0.1 proto 99\n";
  }
  if (!routes.empty()) {
    std::ofstream f(routes);
    f << batch;
    if (!f.flush()) {
      std::perror(routes.c_str());
      return 1;
    }
  }
  std::printf("{\"mode\":\"gen\",\"live\":%ld,\"blackholes\":%ld}\n", plan.live, plan.bh);
  return 0;
}

// --- XDR / RPC -------------------------------------------------------------------------
struct Reader {
  const uint8_t* p;
  size_t n, off = 0;
  bool ok = true;
  uint32_t U32() {
    if (off + 4 > n) {
      ok = false;
      return 0;
    }
    uint32_t v;
    std::memcpy(&v, p + off, 4);
    off += 4;
    return ntohl(v);
  }
  std::string Opaque(size_t max) {
    uint32_t len = U32();
    size_t padded = (static_cast<size_t>(len) + 3) & ~size_t{3};
    if (!ok || len > max || off + padded > n) {
      ok = false;
      return {};
    }
    std::string s(reinterpret_cast<const char*>(p + off), len);
    off += padded;
    return s;
  }
};
void Put(std::string& b, uint32_t v) {
  v = htonl(v);
  b.append(reinterpret_cast<const char*>(&v), 4);
}
void PutString(std::string& b, const std::string& s) {
  Put(b, static_cast<uint32_t>(s.size()));
  b += s;
  b.append((4 - s.size() % 4) % 4, '\0');
}

struct Stats {
  Plan plan;
  long notified = 0;
  std::vector<int64_t> first_ns;  // per position, -1 until its first SM_NOTIFY
  Clock::time_point t0;
  long getport_udp = 0, getport_tcp = 0, getaddr = 0, null_calls = 0, notify_udp = 0,
       notify_tcp = 0, notify_repeat = 0, notify_unexpected = 0, even_state = 0, other = 0,
       malformed = 0, tcp_conns = 0, send_errors = 0;
  std::set<std::string> mon_names;
  std::set<long> states;
};

// Handles one call sent to local address dst (host order); returns the reply ("" = none).
std::string Handle(const uint8_t* p, size_t n, uint32_t dst, bool tcp, uint16_t sm_port,
                   Stats& st) {
  Reader r{p, n};
  uint32_t xid = r.U32(), mtype = r.U32(), rpcvers = r.U32(), prog = r.U32(), vers = r.U32(),
           proc = r.U32();
  r.U32();
  r.Opaque(400);  // credential
  r.U32();
  r.Opaque(400);  // verifier
  if (!r.ok || mtype != 0 || rpcvers != 2) {
    ++st.malformed;
    return {};
  }
  std::string out;
  Put(out, xid);
  for (uint32_t v : {1u /*REPLY*/, 0u /*MSG_ACCEPTED*/, 0u, 0u /*verifier AUTH_NULL*/}) Put(out, v);
  auto fail = [&](uint32_t accept_stat, uint32_t lo = 0, uint32_t hi = 0) {
    ++st.other;
    Put(out, accept_stat);
    if (accept_stat == 2) {  // PROG_MISMATCH
      Put(out, lo);
      Put(out, hi);
    }
    return out;
  };
  if (proc == 0 && (prog == kPmapProg || prog == kSmProg)) {
    ++st.null_calls;
    Put(out, 0);
    return out;
  }
  if (prog == kPmapProg) {
    if (vers < 2 || vers > 4) return fail(2, 2, 4);
    if (proc != 3) return fail(3);  // PROC_UNAVAIL
    if (vers == 2) {                // GETPORT {prog, vers, prot, port} -> port
      uint32_t q_prog = r.U32(), q_vers = r.U32(), prot = r.U32();
      r.U32();
      if (!r.ok) return fail(4);  // GARBAGE_ARGS
      ++(tcp ? st.getport_tcp : st.getport_udp);
      Put(out, 0);
      Put(out, q_prog == kSmProg && q_vers == 1 && (prot == 17 || prot == 6) ? sm_port : 0);
      return out;
    }
    // GETADDR {prog, vers, netid, addr, owner} -> universal address
    uint32_t q_prog = r.U32(), q_vers = r.U32();
    std::string netid = r.Opaque(64);
    r.Opaque(256);
    r.Opaque(256);
    if (!r.ok) return fail(4);
    ++st.getaddr;
    std::string uaddr;
    if (q_prog == kSmProg && q_vers == 1 && (netid == "udp" || netid == "tcp")) {
      char b[64];
      std::snprintf(b, sizeof b, "%u.%u.%u.%u.%u.%u", dst >> 24, (dst >> 16) & 255,
                    (dst >> 8) & 255, dst & 255, sm_port >> 8, sm_port & 255);
      uaddr = b;
    }
    Put(out, 0);
    PutString(out, uaddr);
    return out;
  }
  if (prog != kSmProg) return fail(1);  // PROG_UNAVAIL
  if (vers != 1) return fail(2, 1, 1);
  if (proc != 6) return fail(3);
  std::string mon_name = r.Opaque(1024);  // SM_NOTIFY stat_chge {mon_name, state}
  int32_t state = static_cast<int32_t>(r.U32());
  if (!r.ok) return fail(4);
  ++(tcp ? st.notify_tcp : st.notify_udp);
  if (st.mon_names.size() < 8) st.mon_names.insert(mon_name);
  if (st.states.size() < 8) st.states.insert(state);
  if (state % 2 == 0) ++st.even_state;
  long i = Position(dst, st.plan);
  if (i < 0 || st.plan.Blackhole(i)) {
    ++st.notify_unexpected;
  } else if (st.first_ns[i] >= 0) {
    ++st.notify_repeat;
  } else {
    st.first_ns[i] =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - st.t0).count();
    ++st.notified;
  }
  Put(out, 0);  // SUCCESS, void result
  return out;
}

// --- serve -----------------------------------------------------------------------------
std::map<std::string, long> UdpCounters() {
  std::ifstream f("/proc/net/snmp");
  std::string line, names;
  std::map<std::string, long> m;
  while (std::getline(f, line)) {
    if (line.rfind("Udp: ", 0) != 0) continue;
    if (names.empty()) {
      names = line;
      continue;
    }
    std::istringstream a(names.substr(5)), b(line.substr(5));
    std::string k;
    long v;
    while (a >> k && b >> v) m[k] = v;
    break;
  }
  return m;
}

int Listen(int type, uint16_t port) {
  int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1, big = 64 << 20;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (type == SOCK_DGRAM) {
    setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) != 0)
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  }
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_ANY);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      (type == SOCK_STREAM && listen(fd, 4096) != 0)) {
    std::fprintf(stderr, "fake_peers: bind %s port %u: %s\n", type == SOCK_STREAM ? "tcp" : "udp",
                 port, std::strerror(errno));
    std::exit(1);
  }
  return fd;
}

void ServeUdp(int fd, uint16_t sm_port, Stats& st) {
  uint8_t buf[9000];
  alignas(cmsghdr) char ctl[256];
  for (;;) {
    sockaddr_in from{};
    iovec iov{buf, sizeof buf};
    msghdr m{};
    m.msg_name = &from;
    m.msg_namelen = sizeof from;
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof ctl;
    ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT);
    if (n < 0) return;  // EAGAIN: drained
    in_addr dst{};
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
      if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO)
        dst = reinterpret_cast<in_pktinfo*>(CMSG_DATA(c))->ipi_addr;
    std::string reply = Handle(buf, static_cast<size_t>(n), ntohl(dst.s_addr), false, sm_port, st);
    if (reply.empty()) continue;
    iovec out{reply.data(), reply.size()};
    alignas(cmsghdr) char octl[CMSG_SPACE(sizeof(in_pktinfo))] = {};
    msghdr s{};
    s.msg_name = &from;
    s.msg_namelen = sizeof from;
    s.msg_iov = &out;
    s.msg_iovlen = 1;
    s.msg_control = octl;
    s.msg_controllen = sizeof octl;
    cmsghdr* c = CMSG_FIRSTHDR(&s);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
    in_pktinfo pi{};
    pi.ipi_spec_dst = dst;  // reply from the peer address that was called
    std::memcpy(CMSG_DATA(c), &pi, sizeof pi);
    if (sendmsg(fd, &s, MSG_DONTWAIT) < 0) ++st.send_errors;
  }
}

struct Conn {
  uint32_t dst = 0;
  std::string in, record;
};

// Reads what conn fd has; answers each complete record. Returns false when it closed.
bool ServeTcp(int fd, Conn& c, uint16_t sm_port, Stats& st) {
  char buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EAGAIN) break;
      return false;
    }
    c.in.append(buf, static_cast<size_t>(n));
  }
  while (c.in.size() >= 4) {
    uint32_t mark;
    std::memcpy(&mark, c.in.data(), 4);
    mark = ntohl(mark);
    size_t len = mark & 0x7fffffffu;
    if (len > (1u << 20)) return false;
    if (c.in.size() < 4 + len) break;
    c.record.append(c.in, 4, len);
    c.in.erase(0, 4 + len);
    if (!(mark & 0x80000000u)) continue;
    std::string reply = Handle(reinterpret_cast<const uint8_t*>(c.record.data()), c.record.size(),
                               c.dst, true, sm_port, st);
    c.record.clear();
    if (reply.empty()) continue;
    std::string framed;
    Put(framed, 0x80000000u | static_cast<uint32_t>(reply.size()));
    framed += reply;
    if (send(fd, framed.data(), framed.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(framed.size()))
      ++st.send_errors;
  }
  return true;
}

double Ms(int64_t ns) { return static_cast<double>(ns) / 1e6; }

int RunServe(const Options& o) {
  const long sm_port = o.Num("sm-port", 0), timeout_s = o.Num("timeout", 600);
  const long stop_after_live_ms = o.Num("stop-after-live", -1);
  const std::string log = o.Get("log", "/dev/null"), times = o.Get("times", "");
  Stats st;
  st.plan = Plan{o.Num("live", 0), o.Num("blackholes", 0)};
  const long live = st.plan.live;
  if (sm_port <= 0 || sm_port > 65535 || !st.plan.Valid() || o.rest.empty()) {
    std::fprintf(stderr, "serve: need --sm-port P --live N [--blackholes B] -- PROGRAM...\n");
    return 2;
  }
  st.first_ns.assign(static_cast<size_t>(st.plan.Total()), -1);
  const uint16_t port = static_cast<uint16_t>(sm_port);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::map<int, int> kinds;  // fd -> 0 udp, 1 tcp listener, 2 tcp conn, 3 child pipe
  std::map<int, Conn> conns;
  auto add = [&](int fd, int kind) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    kinds[fd] = kind;
  };
  for (uint16_t p : {uint16_t{111}, port}) {
    add(Listen(SOCK_DGRAM, p), 0);
    add(Listen(SOCK_STREAM, p), 1);
  }
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) return 1;
  add(pipefd[0], 3);

  auto udp_before = UdpCounters();
  st.t0 = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    int lfd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (lfd >= 0) {
      dup2(lfd, 1);
      dup2(lfd, 2);
    }
    execv(o.rest[0], o.rest.data());
    std::perror(o.rest[0]);
    _exit(127);
  }
  if (pid < 0) return 1;
  std::atomic<int64_t> end_ns{-1};
  int status = 0;
  rusage child_usage{};
  std::thread waiter([&] {
    while (wait4(pid, &status, 0, &child_usage) < 0 && errno == EINTR) {
    }
    end_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - st.t0).count();
    char x = 1;
    (void)!write(pipefd[1], &x, 1);
  });
  const auto deadline = st.t0 + std::chrono::seconds(timeout_s);
  bool timed_out = false, done = false, stopped_early = false;
  std::optional<Clock::time_point> stop_at;
  while (!done) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 && !timed_out) {
      timed_out = true;
      kill(pid, SIGKILL);
    }
    if (stop_after_live_ms >= 0 && !stop_at && st.notified >= live) {
      stop_at = Clock::now() + std::chrono::milliseconds(stop_after_live_ms);
    }
    if (stop_at && !stopped_early && Clock::now() >= *stop_at) {
      stopped_early = true;
      kill(pid, SIGTERM);
    }
    if (stop_at && !stopped_early) {
      left = std::min(left, std::chrono::duration_cast<std::chrono::milliseconds>(
                                *stop_at - Clock::now() + std::chrono::milliseconds(1)));
    }
    epoll_event evs[64];
    int n = epoll_wait(ep, evs, 64, static_cast<int>(std::clamp<long>(left.count(), 1, 200)));
    for (int k = 0; k < n; ++k) {
      int fd = evs[k].data.fd;
      switch (kinds[fd]) {
        case 0:
          ServeUdp(fd, port, st);
          break;
        case 1:
          for (;;) {
            sockaddr_in local{};
            socklen_t len = sizeof local;
            int c = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (c < 0) break;
            ++st.tcp_conns;
            getsockname(c, reinterpret_cast<sockaddr*>(&local), &len);
            conns[c].dst = ntohl(local.sin_addr.s_addr);
            add(c, 2);
          }
          break;
        case 2:
          if (!ServeTcp(fd, conns[fd], port, st)) {
            close(fd);
            conns.erase(fd);
            kinds.erase(fd);
          }
          break;
        case 3:
          done = true;
          break;
      }
    }
  }
  waiter.join();
  for (auto& [fd, kind] : kinds)  // answer what arrived before the exit
    if (kind == 0) ServeUdp(fd, port, st);
  auto udp_after = UdpCounters();

  std::vector<int64_t> got;
  for (int64_t t : st.first_ns)
    if (t >= 0) got.push_back(t);
  std::sort(got.begin(), got.end());
  if (!times.empty()) {  // every live peer's first SM_NOTIFY, ms after the fork, in order
    if (FILE* f = std::fopen(times.c_str(), "w")) {
      for (int64_t t : got) std::fprintf(f, "%.3f\n", Ms(t));
      std::fclose(f);
    }
  }
  auto pct = [&](double q) -> std::string {  // time when q of all live peers were notified
    size_t need = static_cast<size_t>(q * static_cast<double>(live) + 0.999999);
    if (need == 0 || need > got.size()) return "null";
    char b[32];
    std::snprintf(b, sizeof b, "%.1f", Ms(got[need - 1]));
    return b;
  };
  std::string out = "{\"live\":" + std::to_string(live) +
                    ",\"notified\":" + std::to_string(st.notified) +
                    ",\"all_notified_ms\":" + pct(1.0) +
                    ",\"first_ms\":" + (got.empty() ? "null" : std::to_string(Ms(got.front()))) +
                    ",\"p50_ms\":" + pct(0.5) + ",\"p90_ms\":" + pct(0.9) +
                    ",\"p99_ms\":" + pct(0.99) + ",\"notified_by_s\":{";
  bool first = true;
  for (int s : {1, 2, 5, 10, 30, 60, 120, 300}) {
    long k = std::upper_bound(got.begin(), got.end(), int64_t{s} * 1000000000) - got.begin();
    out += (first ? "\"" : ",\"") + std::to_string(s) + "\":" + std::to_string(k);
    first = false;
  }
  int64_t gap = 0;  // the longest pause between two consecutive first notifications
  size_t gap_after = 0;
  for (size_t k = 1; k < got.size(); ++k)
    if (got[k] - got[k - 1] > gap) {
      gap = got[k] - got[k - 1];
      gap_after = k;
    }
  char run[128];
  std::snprintf(run, sizeof run,
                "},\"longest_gap_ms\":%.1f,\"longest_gap_after\":%zu,\"run_ms\":%.1f", Ms(gap),
                gap_after, Ms(end_ns));
  out += run;
  rusage self_usage{};
  getrusage(RUSAGE_SELF, &self_usage);
  auto cpu_ms = [](const timeval& tv) { return tv.tv_sec * 1e3 + tv.tv_usec / 1e3; };
  std::snprintf(run, sizeof run,
                ",\"child_user_ms\":%.1f,\"child_sys_ms\":%.1f,\"peers_cpu_ms\":%.1f",
                cpu_ms(child_usage.ru_utime), cpu_ms(child_usage.ru_stime),
                cpu_ms(self_usage.ru_utime) + cpu_ms(self_usage.ru_stime));
  out += run;
  if (WIFEXITED(status))
    out += ",\"exit\":" + std::to_string(WEXITSTATUS(status));
  else
    out += ",\"signal\":" + std::to_string(WTERMSIG(status));
  out += std::string(",\"timed_out\":") + (timed_out ? "true" : "false");
  out += std::string(",\"stopped_early\":") + (stopped_early ? "true" : "false");
  for (auto& [k, v] : std::map<std::string, long>{{"getport_udp", st.getport_udp},
                                                  {"getport_tcp", st.getport_tcp},
                                                  {"getaddr", st.getaddr},
                                                  {"null_calls", st.null_calls},
                                                  {"notify_udp", st.notify_udp},
                                                  {"notify_tcp", st.notify_tcp},
                                                  {"notify_repeat", st.notify_repeat},
                                                  {"notify_unexpected", st.notify_unexpected},
                                                  {"even_state", st.even_state},
                                                  {"other_calls", st.other},
                                                  {"malformed", st.malformed},
                                                  {"tcp_conns", st.tcp_conns},
                                                  {"reply_send_errors", st.send_errors}})
    out += ",\"" + k + "\":" + std::to_string(v);
  out += ",\"mon_names\":[";
  first = true;
  for (auto& m : st.mon_names) {
    std::string safe;
    for (char ch : m) safe += (ch == '"' || ch == '\\' || ch < 32) ? '?' : ch;
    out += (first ? "\"" : ",\"") + safe + "\"";
    first = false;
  }
  out += "],\"states\":[";
  first = true;
  for (long s : st.states) {
    out += (first ? "" : ",") + std::to_string(s);
    first = false;
  }
  out += "],\"udp\":{";
  first = true;
  for (auto& [k, v] : udp_after) {
    out += (first ? "\"" : ",\"") + k + "\":" + std::to_string(v - udp_before[k]);
    first = false;
  }
  out += "}}";
  std::printf("%s\n", out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s gen|serve [options] (see the file's header)\n", argv[0]);
    return 2;
  }
  Options o;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") {
      for (int k = i + 1; k < argc; ++k) o.rest.push_back(argv[k]);
      break;
    }
    if (a.rfind("--", 0) == 0 && i + 1 < argc) {
      o.kv[a.substr(2)] = argv[++i];
    } else {
      std::fprintf(stderr, "%s: unexpected argument %s\n", argv[0], a.c_str());
      return 2;
    }
  }
  o.rest.push_back(nullptr);
  if (o.rest.size() == 1) o.rest.clear();
  signal(SIGPIPE, SIG_IGN);
  try {
    std::string mode = argv[1];
    if (mode == "gen") return RunGen(o);
    if (mode == "serve") return RunServe(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: bad option: %s\n", argv[0], e.what());
    return 2;
  }
  std::fprintf(stderr, "%s: unknown mode %s\n", argv[0], argv[1]);
  return 2;
}
