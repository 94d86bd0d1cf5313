// sm-notify's io_context: sockets, resolver, notifier, signals (see runner.h).
#include "notify/runner.h"

#include <sys/resource.h>

#include <csignal>
#include <optional>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include "base/log.h"
#include "notify/scheduler.h"
#include "notify/transport.h"
#include "rpc/client.h"

namespace nsm::notify {
namespace {

// Resolves the -v name for the source address, running `io` until the answer.
Status ResolveSource(asio::io_context& io, resolver::Resolver& r, const std::string& name,
                     rpc::ClientOptions* co) {
  std::optional<Result<resolver::Addresses>> answer;
  r.Resolve(name, std::chrono::seconds(15),
            [&answer](Result<resolver::Addresses> a) { answer = std::move(a); });
  while (!answer && io.run_one() > 0) {
  }
  io.restart();
  if (!answer) return Status(Code::kInternal, "resolver did not answer");
  if (!answer->ok()) {
    return Status(answer->status().code(),
                  "-v " + name + ": cannot resolve: " + answer->status().message());
  }
  for (const net::Address& a : **answer) {
    if (a.is_v4() && !co->source_v4) co->source_v4 = a;
    if (a.is_v6() && !co->source_v6) co->source_v6 = a;
  }
  if (!co->source_v4 && !co->source_v6) {
    return Status(Code::kNotFound, "-v " + name + ": no address");
  }
  return Status::Ok();
}

std::chrono::microseconds ThreadCpu() {
  rusage u{};
  if (getrusage(RUSAGE_THREAD, &u) != 0) return {};
  auto us = [](const timeval& tv) {
    return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
  };
  return us(u.ru_utime) + us(u.ru_stime);
}

// The resolver sidecar is started only when a name has to be looked up.
bool NeedsResolver(const RunConfig& cfg) {
  if (cfg.source && !net::IsIpLiteral(*cfg.source)) return true;
  for (const Target& t : cfg.targets) {
    if (!net::IsIpLiteral(t.peer)) return true;
  }
  return false;
}

}  // namespace

Result<RunOutcome> RunNotifier(RunConfig cfg, Notifier::DoneFn on_done, Notifier::FailFn on_failed,
                               std::function<void()> ready) {
  asio::io_context io;
  RunOutcome out;
  std::unique_ptr<resolver::Resolver> res;
  if (cfg.use_resolver && NeedsResolver(cfg)) {
    res = resolver::MakeSidecarResolver(io, cfg.resolver);
  }

  rpc::ClientOptions co;
  co.source_port = cfg.source_port;
  co.reserved_port = cfg.source_port == 0;
  co.udp_buffer = cfg.udp_buffer;
  if (cfg.source) {
    if (auto lit = net::Address::Parse(*cfg.source)) {
      net::Address a = lit->Normalized();
      (a.is_v4() ? co.source_v4 : co.source_v6) = a;
    } else if (res) {
      Status s = ResolveSource(io, *res, *cfg.source, &co);
      if (!s.ok()) return s;
    } else {
      return Status(Code::kInvalidArgument, "-v " + *cfg.source + ": not an IP address");
    }
  }
  if (co.source_v4) out.source_v4 = co.source_v4->ToString();
  if (co.source_v6) out.source_v6 = co.source_v6->ToString();

  auto client = std::make_unique<rpc::Client>(io, co);
  Status opened = client->Open();
  if (!opened.ok() && co.reserved_port) {
    // Peers accept SM_NOTIFY from any port; nfs-utils insists on a reserved one only
    // because it always runs as root.
    log::Warning("cannot bind a reserved source port (", opened.ToString(),
                 "); sending from an unreserved port");
    co.reserved_port = false;
    client = std::make_unique<rpc::Client>(io, co);
    opened = client->Open();
  }
  if (!opened.ok()) return opened;
  // TCP calls (to peers that need it) come from ordinary ephemeral ports: each would
  // hold a reserved or the fixed -p port in TIME_WAIT for a minute. Not opened: its
  // UDP sockets are never used.
  rpc::ClientOptions tcp_opts = co;
  tcp_opts.reserved_port = false;
  tcp_opts.source_port = 0;
  rpc::Client tcp_client(io, tcp_opts);

  ready();

  std::unique_ptr<Scheduler> sched = MakeAsioScheduler(io);
  std::unique_ptr<Transport> transport = MakeRpcTransport(io, *client, tcp_client);
  Notifier notifier(*sched, *transport, res.get(), cfg.notifier);

  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](std::error_code ec, int sig) {
    if (ec) return;
    log::Notice("signal ", sig, ": stopping; peers not yet notified stay on the list");
    out.interrupted = true;
    notifier.Stop();
    io.stop();
  });

  const std::chrono::microseconds cpu_before = ThreadCpu();
  // While targets may still come, the io_context has work even when every peer so far
  // has answered; the last batch releases it.
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> awaiting;
  if (cfg.more) {
    notifier.ExpectMore();
    awaiting.emplace(io.get_executor());
  }
  notifier.Start(std::move(cfg.targets), std::move(on_done), std::move(on_failed), [&] {
    std::error_code ec;
    signals.cancel(ec);
    io.stop();
  });
  if (cfg.more) {
    cfg.more->Start([&io, &notifier, &awaiting](std::vector<Target> batch, bool last) {
      asio::post(io, [&notifier, &awaiting, batch = std::move(batch), last]() mutable {
        notifier.Add(std::move(batch));
        if (last) {
          notifier.NoMore();
          awaiting.reset();
        }
      });
    });
  }
  io.run();
  // ORDER: the source posts into io; it stops before io (and the notifier) go.
  if (cfg.more) cfg.more->Stop();
  out.cpu = ThreadCpu() - cpu_before;

  out.stats = notifier.stats();
  notifier.Stop();
  client->Close();
  tcp_client.Close();
  if (res) res->Shutdown();
  return out;
}

}  // namespace nsm::notify
