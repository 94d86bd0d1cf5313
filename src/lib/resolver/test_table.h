// TEST ONLY: the table a sidecar answers from instead of getaddrinfo when started
// with NSM_RESOLVER_TEST_HOSTS=<file> (SidecarOptions::test_hosts_file), so tests
// never query the machine's DNS and can script hangs, delays, crashes and protocol
// violations. The parser is pure, for unit tests. Format: docs/resolver.md.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "net/address.h"

namespace nsm::resolver {

inline constexpr char kTestHostsEnv[] = "NSM_RESOLVER_TEST_HOSTS";

struct TestEntry {
  enum class Kind {
    kAddresses,    // answer these addresses
    kNotFound,     // "nxdomain": answer not found
    kTemporary,    // "tempfail": answer a temporary failure (like EAI_AGAIN)
    kHang,         // "hang": never answer (the worker thread blocks)
    kCrash,        // "crash": the sidecar kills itself with SIGKILL
    kGarbage,      // "garbage": the sidecar sends a malformed frame
    kWrongId,      // "wrongid": the sidecar answers a request id that was never sent
    kMisroute,     // "misroute": the sidecar sends a parent->sidecar (resolve) frame
    kWriteProbe,   // "writeprobe <path>": try to create <path>; answer kFailed with the
                   // outcome as detail ("created" or the errno text)
    kFreeze,       // "freeze": the sidecar SIGSTOPs itself (main loop included: a hang)
    kSignalProbe,  // "signalprobe <pid>": kill(<pid>, 0); answer kFailed with the outcome
                   // as detail ("signalled" or the errno text)
  };
  Kind kind = Kind::kNotFound;
  std::vector<net::Address> addresses;  // kAddresses only, as written (not normalised)
  std::chrono::milliseconds delay{0};   // "slow <ms>" prefix
  std::string path;                     // kWriteProbe only
  pid_t pid = 0;                        // kSignalProbe only
};
// Keys are lower-cased names.
using TestTable = std::map<std::string, TestEntry, std::less<>>;

// One entry per line: `<name> [slow <ms>] (<ip literal>... | nxdomain | tempfail | hang
// | freeze | crash | garbage | wrongid | misroute | writeprobe <path> | signalprobe
// <pid>)`. '#' starts a comment; blank lines
// are ignored. kInvalidArgument (with the line number) on anything else.
Result<TestTable> ParseTestTable(std::string_view text);

}  // namespace nsm::resolver
