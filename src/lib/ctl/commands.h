// statdctl internals shared by the command files: the parsed command line, the
// context a command runs in, and helpers to open the database and map errors to exit
// codes. Not a public interface.
#pragma once

#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/status.h"
#include "control/json.h"
#include "ctl/cli.h"
#include "store/store.h"

namespace nsm::ctl::internal {

struct Context {
  std::string command;
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;  // canonical option -> values
  std::set<std::string> flags;
  std::string state_dir;
  std::string socket;
  bool json = false;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  std::istream* in = nullptr;

  bool Flag(const std::string& f) const { return flags.count(f) != 0; }
  std::optional<std::string> Value(const std::string& v) const {
    auto it = values.find(v);
    if (it == values.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
  }
  std::vector<std::string> Values(const std::string& v) const {
    auto it = values.find(v);
    return it == values.end() ? std::vector<std::string>{} : it->second;
  }
};

// "statdctl: <message>" on err; returns code.
int Fail(Context& c, int code, const std::string& message);
// Exit code for a failure to open the database.
int StoreExitCode(const Status& s);
// Exit code for a failed control call.
int ControlExitCode(const Status& s);

enum class Access { kRead, kWrite, kCreate };
// Opens <state_dir>/NSM_DB_NAME. kCreate makes a missing database (owned, when root,
// by the user rpc.statd runs as: the owner of DIR/sm, else of DIR).
Result<std::unique_ptr<store::Store>> OpenStore(const Context& c, Access a);

// Unsigned 32-bit number (decimal or 0x hex) from the command line.
std::optional<uint32_t> ParseU32(const std::string& s);

int CmdStatus(Context& c);
int CmdList(Context& c);
int CmdExport(Context& c);
int CmdStats(Context& c);
int CmdAdd(Context& c);
int CmdRemove(Context& c);
int CmdForget(Context& c);
int CmdImport(Context& c);
int CmdNotify(Context& c);

}  // namespace nsm::ctl::internal
