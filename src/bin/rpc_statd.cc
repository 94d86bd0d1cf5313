// rpc.statd: the NSM daemon. Parses options and nfs.conf, then runs statd::Run.
#include <cstdio>
#include <string>
#include <vector>

#include "config/statd_options.h"
#include "resolver/resolver.h"
#include "statd/statd.h"

int main(int argc, char** argv) {
  nsm::resolver::MaybeRunSidecar(argc, argv);  // the resolver child role; never returns
  std::vector<std::string> warnings;
  auto opts = nsm::config::LoadStatdOptions(argc, argv, &warnings);
  for (const auto& w : warnings) std::fprintf(stderr, "rpc.statd: %s\n", w.c_str());
  if (!opts.ok()) {
    std::fprintf(stderr, "rpc.statd: %s\n%s", opts.status().message().c_str(),
                 nsm::config::StatdUsage(argv[0]).c_str());
    return 1;
  }
  if (opts->help) {
    std::fputs(nsm::config::StatdUsage(argv[0]).c_str(), stdout);
    return 0;
  }
  if (opts->version) {
    std::printf("rpc.statd (nsm) " NSM_VERSION "\n");
    return 0;
  }
  return nsm::statd::Run(*opts);
}
