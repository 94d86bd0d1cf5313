// sm-notify: tells every peer that monitored this host that it rebooted. Parses the
// nfs-utils options (and nsm's --keep-list), then wires the notify module together in
// the order below; docs/sm-notify.md describes the behaviour.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "base/log.h"
#include "config/smnotify_options.h"
#include "notify/notify_list.h"
#include "notify/runner.h"
#include "notify/system.h"
#include "privsep/daemon.h"
#include "privsep/privileges.h"
#include "resolver/resolver.h"

namespace {

using namespace nsm;  // NOLINT(google-build-using-namespace): a main file

int Run(const config::SmNotifyOptions& opts, bool keep_list) {
  // ORDER: the once-per-boot marker comes first, as in nfs-utils (record_pid), and
  // only for the default state directory; -f or -n run anyway.
  if (opts.UsesDefaultStateDir()) {
    Result<bool> first = notify::MarkRunThisBoot(notify::kBootMarker);
    if (!first.ok()) {
      log::Warning(first.status().ToString());
    } else if (!*first && !opts.force && opts.update_state) {
      log::Notice("Already notifying clients; Exiting!");
      return 0;
    }
  }

  // ORDER: the kernel's control files are root's; open them before dropping root.
  notify::ControlFile grace, kernel_state;
  if (opts.lift_grace) {
    Result<notify::ControlFile> f = notify::ControlFile::OpenIfExists(notify::kEndGraceFile);
    if (f.ok())
      grace = std::move(*f);
    else
      log::Warning(f.status().ToString());
  }
  if (Result<notify::ControlFile> f = notify::ControlFile::OpenIfExists(notify::kKernelStateFile);
      f.ok()) {
    kernel_state = std::move(*f);
  } else {
    log::Warning(f.status().ToString());
  }

  // ORDER: drop to the state directory's owner before touching the directory, so that
  // everything written there stays the owner's (keeps CAP_NET_BIND_SERVICE for the
  // reserved source ports).
  if (geteuid() == 0) {
    Result<privsep::Identity> id = privsep::DropPrivileges(opts.state_dir);
    if (!id.ok()) {
      log::Error("cannot drop privileges: ", id.status().ToString());
      return 1;
    }
  }

  // ORDER: take the list (the monitor list becomes the notify list, durably, and the
  // state number is bumped) before the parent process exits: rpc.statd waits for it.
  notify::TakeOptions take;
  take.state_dir = opts.state_dir;
  take.bump = opts.update_state;
  take.keep_list = keep_list;
  take.notify_as = opts.source;
  take.nodename = notify::NodeName();
  Result<notify::NotifyPlan> plan = notify::TakeNotifyList(take);
  if (!plan.ok()) {
    log::Error("cannot read the notify list: ", plan.status().ToString());
    return 1;
  }
  for (const std::string& w : plan->warnings) log::Warning(w);
  if (plan->targets.empty() && !plan->stream) {
    log::Info("No hosts to notify; exiting");
    if (grace.is_open()) {
      Status s = grace.Write("Y");
      if (!s.ok()) log::Warning(s.ToString());
    }
    return 0;
  }
  if (kernel_state.is_open()) {
    Status s = kernel_state.Write(std::to_string(plan->state));
    if (!s.ok()) log::Warning(s.ToString());
  }
  log::Notice("notifying ", plan->stream ? plan->stream->hosts() : plan->targets.size(),
              " hosts from the ", notify::ListSourceName(plan->source), " in ", opts.state_dir,
              ", state ", plan->state, plan->bumped ? " (new)" : "",
              plan->keep ? ", keeping the list" : "");

  // ORDER: daemonize only now (nothing open is carried across fork: the store was
  // closed); the parent exits once the daemon's sockets are open.
  privsep::ReadyNotifier ready;
  if (!opts.debug) {
    log::Notice("Backgrounding to notify hosts...");
    Result<privsep::ReadyNotifier> d = privsep::Daemonize();
    if (!d.ok()) {
      log::Error("cannot daemonize: ", d.status().ToString());
      return 1;
    }
    ready = std::move(*d);
  }

  // The notifier takes the targets; the recorder needs only the entries they name.
  notify::RunConfig rc;
  rc.targets = std::move(plan->targets);
  rc.more = plan->stream;
  auto shared_plan = std::make_shared<const notify::NotifyPlan>(std::move(*plan));
  Result<std::unique_ptr<notify::Recorder>> recorder = notify::MakeRecorder(shared_plan);
  if (!recorder.ok()) {
    log::Error("cannot open the notify list for recording: ", recorder.status().ToString());
    ready.Fail(recorder.status());
    return 1;
  }
  notify::AsyncRecorder record(std::move(*recorder));

  rc.notifier.state = static_cast<int32_t>(shared_plan->state);
  rc.notifier.retry_limit = std::chrono::minutes(opts.retry_minutes);
  rc.source_port = opts.port;
  rc.source = opts.source;
  const auto start = std::chrono::steady_clock::now();
  Result<notify::RunOutcome> out = notify::RunNotifier(
      std::move(rc), [&record](const notify::Target& t) { record.Done(t); },
      [&record](const notify::Target& t, const notify::Failure& f) { record.Failed(t, f); },
      [&ready] { (void)ready.Ready(); });
  const auto ms = [start] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 start)
        .count();
  };
  const int64_t notify_ms = ms();
  const size_t record_errors = record.Finish();
  if (!out.ok()) {
    log::Error(out.status().ToString());
    ready.Fail(out.status());
    return 1;
  }
  const notify::NotifierStats& st = out->stats;
  log::Notice("notified ", st.done, " of ", st.targets, " hosts in ", notify_ms, " ms; ", st.failed,
              " failed", out->interrupted ? ", interrupted" : "", " (", st.attempts, " attempts, ",
              st.udp_notifies, " SM_NOTIFY over UDP, ", st.tcp_notifies,
              " over TCP; outcomes recorded after ", ms(), " ms; ",
              std::chrono::duration_cast<std::chrono::milliseconds>(out->cpu).count(), " ms CPU)");
  if (record_errors != 0) log::Error(record_errors, " outcomes could not be recorded");
  return (st.failed != 0 || record_errors != 0 || out->interrupted) ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  nsm::resolver::MaybeRunSidecar(argc, argv);  // the resolver child role; never returns
  nsm::notify::NsmArgs args = nsm::notify::SplitNsmArgs(argc, argv);
  std::vector<std::string> warnings;
  auto opts = nsm::config::LoadSmNotifyOptions(args.argc(), args.argv.data(), &warnings);
  for (const auto& w : warnings) std::fprintf(stderr, "sm-notify: %s\n", w.c_str());
  if (!opts.ok()) {
    std::fprintf(stderr, "sm-notify: %s\n%s%s", opts.status().message().c_str(),
                 nsm::config::SmNotifyUsage(argv[0]).c_str(), nsm::notify::NsmArgsUsage().c_str());
    return 1;
  }
  if (opts->help) {
    std::fputs((nsm::config::SmNotifyUsage(argv[0]) + nsm::notify::NsmArgsUsage()).c_str(), stdout);
    return 0;
  }
  nsm::log::Init("sm-notify", /*to_syslog=*/!opts->debug,
                 opts->verbose ? nsm::log::Level::kDebug : nsm::log::Level::kInfo);
  nsm::log::Notice("Version " NSM_VERSION " starting");
  return Run(*opts, args.keep_list);
}
