// HA callout runner: nfs-utils' events as arguments of PROG, run by privsep::Children
// (see runner.h).
#include "hacallout/runner.h"

#include <utility>

namespace nsm::hacallout {
namespace {

privsep::ChildOptions ChildOpts(const Options& o) {
  privsep::ChildOptions c;
  c.label = "ha-callout";
  c.max_running = o.max_running;
  c.max_queued = o.max_queued;
  c.timeout = o.timeout;
  c.poll_interval = o.poll_interval;
  return c;
}

}  // namespace

Runner::Runner(asio::io_context& io, Options opts)
    : opts_(std::move(opts)), children_(io, ChildOpts(opts_)) {}

Runner::~Runner() = default;

void Runner::AddClient(const std::string& mon_name, const std::string& my_name) {
  Run({"add-client", mon_name, my_name});
}

void Runner::DelClient(const std::string& mon_name, const std::string& my_name) {
  Run({"del-client", mon_name, my_name});
}

void Runner::SmNotify(const std::string& mon_name, const std::string& caller_ip, int32_t state) {
  Run({"sm-notify", mon_name, caller_ip, std::to_string(state)});
}

void Runner::Run(std::vector<std::string> args) {
  if (!enabled()) return;
  args.insert(args.begin(), opts_.program);
  children_.Run(std::move(args));
}

void Runner::Shutdown() { children_.Shutdown(); }
Stats Runner::stats() const { return children_.stats(); }
std::vector<pid_t> Runner::running_pids() const { return children_.running_pids(); }

}  // namespace nsm::hacallout
