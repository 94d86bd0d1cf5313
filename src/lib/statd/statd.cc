// rpc.statd wiring.
#include "statd/statd.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <functional>
#include <memory>

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>

#include "base/clock.h"
#include "base/log.h"
#include "callback/callbacks.h"
#include "control/daemon.h"
#include "control/server.h"
#include "ctl/dump.h"
#include "ctl/legacy.h"
#include "hacallout/runner.h"
#include "monitor/service.h"
#include "privsep/children.h"
#include "privsep/daemon.h"
#include "privsep/pidfile.h"
#include "privsep/privileges.h"
#include "privsep/spawn.h"
#include "proto/nsm.h"
#include "resolver/resolver.h"
#include "rpc/client.h"
#include "rpc/rpcbind.h"
#include "rpc/server.h"
#include "store/store.h"

namespace nsm::statd {
namespace {

constexpr const char* kProcNsmState = "/proc/sys/fs/nfs/nsm_local_state";
constexpr const char* kProcNlmTcpPort = "/proc/sys/fs/nfs/nlm_tcpport";
constexpr const char* kProcNlmUdpPort = "/proc/sys/fs/nfs/nlm_udpport";

// Writes a decimal value to a /proc knob if the knob exists (the kernel's lockd may
// not be loaded, as on the test machines: not an error).
void WriteProcKnob(const char* path, uint64_t value) {
  if (access(path, F_OK) != 0) {
    log::Debug(path, " absent; not set");
    return;
  }
  std::ofstream f(path);
  f << value << "\n";
  f.flush();
  if (!f) log::Warning("cannot write ", path);
}

// /run/rpc.statd.pid for the default directory however it is spelt (systemd's unit
// names that file); otherwise the control socket's name with ".pid": the directory is
// resolved first, so that one directory spelt two ways ("DIR", "DIR/", a symlink) is
// one pidfile and a second daemon on it is refused; a digest when too long.
std::string PidfilePath(const std::string& state_dir) {
  struct stat a {};
  struct stat b {};
  if (state_dir == NSM_DEFAULT_STATE_DIR ||
      (stat(state_dir.c_str(), &a) == 0 && stat(NSM_DEFAULT_STATE_DIR, &b) == 0 &&
       a.st_dev == b.st_dev && a.st_ino == b.st_ino)) {
    return "/run/rpc.statd.pid";
  }
  std::string path = control::SocketPath(state_dir);
  return path.substr(0, path.size() - 4) + ".pid";
}

// SIGUSR1 (nfs-utils: re-notify): one immediate SM_NOTIFY round for the notify list,
// by the sibling `statdctl -P DIR notify --all`, which records each outcome (an
// answered peer leaves the list). Not sm-notify: on the database it would turn the
// monitor list into the notify list under the running daemon. Runs as the daemon's
// user, watched from the io thread (privsep::Children: no thread waits for it); a
// signal that comes while a round runs is ignored. A round still running when the
// daemon stops finishes on its own.
void RenotifyPending(const config::StatdOptions& o, privsep::Children& rounds) {
  if (rounds.stats().running != 0) {
    log::Notice("caught SIGUSR1: a re-notify round is already running");
    return;
  }
  std::vector<std::string> argv = {privsep::SelfDirectory() + "/statdctl", "-P", o.state_dir,
                                   "notify", "--all"};
  if (o.name) {
    argv.push_back("--name");
    argv.push_back(*o.name);
  }
  log::Notice("caught SIGUSR1: notifying the peers of the notify list");
  rounds.Run(std::move(argv), [](const privsep::ChildExit& e) {
    const bool some_failed = e.exit_status() == 8;
    if (e.ok() || some_failed) {
      log::Notice("re-notify round ended: statdctl ", e.ToString(),
                  some_failed ? " (some peers did not answer; they stay listed)" : "");
    } else {
      log::Error("re-notify round ended: statdctl ", e.ToString());
    }
  });
}

}  // namespace

int Run(const config::StatdOptions& o) {
  log::Init("rpc.statd", !o.LogToStderr(), o.debug ? log::Level::kDebug : log::Level::kInfo);

  if (o.notify_only) {  // -N: run sm-notify for this state directory, then exit
    std::vector<std::string> argv = {privsep::SelfDirectory() + "/sm-notify", "-d", "-P",
                                     o.state_dir};
    auto rc = privsep::SpawnAndWait(argv, std::chrono::hours(24));
    if (!rc.ok()) log::Error("sm-notify: ", rc.status().ToString());
    return rc.ok() ? *rc : 1;
  }

  // ORDER: the state directory must exist before anything else is set up, so that a
  // mistyped -P is reported at once and nothing is registered with rpcbind.
  struct stat sb {};
  if (stat(o.state_dir.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    log::Error("state directory ", o.state_dir, " is missing or not a directory");
    return 1;
  }

  // ORDER: daemonize before creating threads and child processes; the parent waits
  // for Ready() so that start-up errors still reach the terminal and the exit code.
  // The pidfile lock is taken first: a second instance fails before touching anything.
  auto pidfile = privsep::Pidfile::Acquire(PidfilePath(o.state_dir));
  if (!pidfile.ok()) {
    log::Error("pidfile: ", pidfile.status().ToString());
    return 1;
  }
  privsep::ReadyNotifier ready;
  if (!o.foreground) {
    auto d = privsep::Daemonize();
    if (!d.ok()) {
      log::Error("cannot daemonize: ", d.status().ToString());
      return 1;
    }
    ready = std::move(*d);
    if (Status s = pidfile->WritePid(); !s.ok()) log::Warning("pidfile: ", s.ToString());
  }
  auto fail = [&](const std::string& msg) {
    log::Error(msg);
    ready.Fail(Status(Code::kInternal, msg));
    return 1;
  };

  if (o.nlm_port != 0) WriteProcKnob(kProcNlmTcpPort, o.nlm_port);
  if (o.nlm_udp_port != 0 || o.nlm_port != 0) {
    WriteProcKnob(kProcNlmUdpPort, o.nlm_udp_port != 0 ? o.nlm_udp_port : o.nlm_port);
  }

  asio::io_context io;

  // ORDER: the resolver sidecar is spawned before the store is opened, so no
  // database descriptor can leak into it. It drops its own privileges, to the
  // identity this daemon drops to below, so the daemon can still kill it then.
  auto target = privsep::DaemonIdentity(o.state_dir);
  if (!target.ok()) return fail("cannot stat the state directory: " + target.status().ToString());
  resolver::SidecarOptions ropts;
  if (target->uid != 0) {
    ropts.drop_to_uid = target->uid;
    ropts.drop_to_gid = target->gid;
  }
  auto resolver = resolver::MakeSidecarResolver(io, ropts);

  // ORDER: sockets are bound while still root (a -p port may be privileged; the
  // callback socket needs a reserved source port).
  // Room for max-connections TCP connections plus the daemon's own descriptors.
  if (rlimit rl{}; getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    rlim_t want = static_cast<rlim_t>(o.max_connections) + 256;
    if (rl.rlim_cur < want) {
      rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : std::min(want, rl.rlim_max);
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0) log::Warning("cannot raise the descriptor limit");
    }
  }
  rpc::ServerOptions so;
  so.port = o.port;
  so.max_tcp_connections = o.max_connections;
  so.tcp_idle_timeout = std::chrono::seconds(o.idle_timeout);
  rpc::Server server(io, so);
  if (Status st = server.Listen(); !st.ok()) return fail("cannot listen: " + st.ToString());
  rpc::ClientOptions co;
  co.reserved_port = true;
  co.source_port = o.outgoing_port;
  rpc::Client client(io, co);
  if (Status st = client.Open(); !st.ok()) {
    return fail("cannot open the callback socket: " + st.ToString());
  }

  // ORDER: the control socket (statdctl) is bound while still root: /run is root's.
  // Requests are served only once io.run() starts, after ctl_handler is set below.
  control::Handler ctl_handler;
  control::Server ctl(io, control::SocketPath(o.state_dir),
                      [&ctl_handler](const control::Request& r) { return ctl_handler(r); });
  if (Status st = ctl.Listen(); !st.ok()) return fail("cannot listen: " + st.ToString());

  // ORDER: the store is opened while still root, then its files are handed to the
  // daemon's user, then privileges are dropped. Debian ships /var/lib/nfs owned by
  // root with only sm/ owned by statd: the unprivileged daemon could not create
  // nsm.db (or SQLite's -wal/-shm) there, but it can use descriptors opened for it.
  mode_t old_umask = umask(077);  // lockd's cookies are nobody else's business
  auto store = store::Store::Open(o.state_dir, store::Options{});
  umask(old_umask);
  if (!store.ok()) return fail("cannot open the monitor database: " + store.status().ToString());
  if (geteuid() == 0 && target->uid != 0) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      if (Status s = privsep::HandOver((*store)->path() + suffix, *target); !s.ok()) {
        return fail("cannot give the database to its user: " + s.ToString());
      }
    }
  }
  // ORDER: on the first start in a directory nfs-utils used, its sm/, sm.bak/ and
  // state are imported once (meta "legacy_imported"), before the state is made odd.
  if ((*store)->GetMeta("legacy_imported").status().code() == Code::kNotFound) {
    auto legacy = ctl::ReadLegacyDir(o.state_dir);
    if (legacy.ok()) {
      for (const auto& p : legacy->problems) log::Warning("nfs-utils state: skipped ", p);
      auto rep = ctl::ImportDump(**store, legacy->data);
      if (!rep.ok()) return fail("cannot import the nfs-utils state: " + rep.status().ToString());
      log::Notice("imported ", rep->monitors, " monitor(s), ", rep->notify,
                  " notify entries and state ", rep->state_after, " from nfs-utils' files in ",
                  o.state_dir);
    } else if (legacy.status().code() != Code::kNotFound) {
      return fail("cannot read the nfs-utils state: " + legacy.status().ToString());
    }
    if (Status s =
            (*store)->SetMeta("legacy_imported", std::to_string(Clock::Real().UnixSeconds()));
        !s.ok()) {
      return fail("cannot record the nfs-utils import: " + s.ToString());
    }
  }

  // ORDER: at boot (unless -L) sm-notify runs before privileges are dropped (it needs
  // root for reserved source ports and the kernel's files, then drops them itself) and
  // before any SM_MON is accepted: its parent exits once the monitor list has become
  // the notify list and the state is bumped, and only then is the state read below.
  if (!o.no_notify) {
    std::vector<std::string> argv = {privsep::SelfDirectory() + "/sm-notify", "-P", o.state_dir};
    if (o.outgoing_port != 0) argv.push_back("-p" + std::to_string(o.outgoing_port));
    if (o.name) {
      argv.push_back("-v");
      argv.push_back(*o.name);
    }
    if (access(argv[0].c_str(), X_OK) != 0) {
      log::Warning("cannot run ", argv[0], "; peers are not told of this reboot");
    } else if (auto rc = privsep::SpawnAndWait(argv, std::chrono::seconds(120)); !rc.ok()) {
      log::Error("sm-notify: ", rc.status().ToString());
    } else if (*rc != 0) {
      log::Warning("sm-notify exited with status ", *rc);
    }
  }

  auto dropped = privsep::DropPrivileges(o.state_dir);
  if (!dropped.ok()) return fail("cannot drop privileges: " + dropped.status().ToString());
  if (dropped->dropped) {
    log::Info("running as uid ", dropped->uid, " gid ", dropped->gid,
              dropped->can_bind_reserved ? " with" : " without", " CAP_NET_BIND_SERVICE");
  }

  // ORDER: the state number is made odd (we are up) and durable before any reply
  // carries it; statd itself does not bump it (sm-notify does, at boot).
  auto state = (*store)->GetState();
  if (!state.ok()) return fail("cannot read the state number: " + state.status().ToString());
  uint32_t st_num = *state;
  if (st_num % 2 == 0) {
    st_num += 1;
    if (Status s = (*store)->SetState(st_num); !s.ok()) {
      return fail("cannot record the state number: " + s.ToString());
    }
  }
  WriteProcKnob(kProcNsmState, st_num);

  callback::Callbacks callbacks(io, client);
  hacallout::Options ha_opts;
  ha_opts.program = o.ha_callout.value_or("");
  hacallout::Runner ha(io, ha_opts);
  monitor::Hooks hooks;
  hooks.rebooted = [](uint32_t s) {
    log::Warning("state bumped to ", s, "; peers are notified by the next sm-notify run");
  };
  if (ha.enabled()) {
    hooks.add_client = [&ha](const std::string& m, const std::string& n) { ha.AddClient(m, n); };
    hooks.del_client = [&ha](const std::string& m, const std::string& n) { ha.DelClient(m, n); };
    hooks.notified = [&ha](const std::string& m, const std::string& ip, int32_t s) {
      ha.SmNotify(m, ip, s);
    };
  }
  monitor::Options mo;
  mo.source_check = o.notify_source_check == "off"      ? monitor::SourceCheck::kOff
                    : o.notify_source_check == "refuse" ? monitor::SourceCheck::kRefuse
                                                        : monitor::SourceCheck::kLog;
  monitor::Service service(io, **store, *resolver, callbacks, st_num, mo, std::move(hooks));
  service.Register(server);

  control::DaemonInfo info{getpid(), o.state_dir, (*store)->path(), Clock::Real().UnixSeconds()};
  control::DaemonSources sources;
  sources.server = &server;
  sources.client = &client;
  sources.service = &service;
  sources.callbacks = &callbacks;
  sources.resolver = resolver.get();
  sources.store = store->get();
  sources.ha = &ha;
  sources.control = &ctl;
  ctl_handler = control::MakeDaemonHandler(info, sources);

  // ORDER: register with rpcbind last, once every call can be answered.
  std::vector<rpc::Registration> regs = {{"udp", server.port()}, {"tcp", server.port()}};
  if (server.has_ipv6()) {
    regs.push_back({"udp6", server.port()});
    regs.push_back({"tcp6", server.port()});
  }
  if (Status s = rpc::RegisterService(proto::kSmProg, proto::kSmVers, regs); !s.ok()) {
    return fail("cannot register with rpcbind: " + s.ToString());
  }

  asio::signal_set stop(io, SIGTERM, SIGINT, SIGHUP);
  stop.async_wait([&](std::error_code ec, int sig) {
    if (ec) return;
    log::Notice("caught signal ", sig, ", un-registering and exiting");
    server.Stop();
    ctl.Stop();
    ha.Shutdown();
    client.Close();
    resolver->Shutdown();
    io.stop();
  });
  std::signal(SIGPIPE, SIG_IGN);
  asio::signal_set usr1(io, SIGUSR1);
  privsep::Children renotify_rounds(
      io, privsep::ChildOptions{"re-notify", 1, 0, std::chrono::minutes(10)});
  std::function<void()> wait_usr1 = [&] {
    usr1.async_wait([&](std::error_code ec, int) {
      if (ec) return;
      RenotifyPending(o, renotify_rounds);
      wait_usr1();
    });
  };
  wait_usr1();

  log::Notice("Version " NSM_VERSION " starting: port ", server.port(), ", state ", st_num,
              ", state directory ", o.state_dir, ", ", (*store)->path());
  if (Status s = ready.Ready(); !s.ok()) log::Warning("cannot report readiness: ", s.ToString());
  io.run();

  rpc::UnregisterService(proto::kSmProg, proto::kSmVers);
  store->reset();  // drains the committer and checkpoints the database
  return 0;
}

}  // namespace nsm::statd
