// statdctl: nsm's administration tool (docs/statdctl.md). Thin main: the commands
// live in src/lib/ctl.
#include "ctl/cli.h"
#include "resolver/resolver.h"

int main(int argc, char** argv) {
  nsm::resolver::MaybeRunSidecar(argc, argv);  // `notify` may resolve names; never returns
  return nsm::ctl::Main(argc, argv);
}
