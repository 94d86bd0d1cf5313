// Fuzz target nfs_conf: nsm::config::NfsConf::Parse on /etc/nfs.conf-style text, then
// rpc.statd's and sm-notify's option parsers over that configuration.
// Input layout: everything before the first NUL byte is the configuration text (so a
// plain nfs.conf is a valid input); after it, NUL-separated strings are extra argv
// elements given to both ParseStatdOptions and ParseSmNotifyOptions.
// The text is parsed as if it were tests/fuzz/nfs_conf_include/nfs.conf, so relative
// includes reach the fixed files there (an include loop, a nested include, a file with
// a NUL byte, a directory) and nothing else that changes.
// Checks: parsing is deterministic; every key the text names can be queried (Get,
// GetInt, GetBool, Where) and a key with no origin has no value; the option parsers
// never report kInternal, and their accepted results respect their own validation
// (absolute state directory, host names of 1..1024 printable bytes, retry bound).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "config/nfs_conf.h"
#include "config/smnotify_options.h"
#include "config/statd_options.h"
#include "fuzz_check.h"

#ifndef NSM_FUZZ_SOURCE_DIR
#error "NSM_FUZZ_SOURCE_DIR must name tests/fuzz"
#endif

namespace {

using nsm::config::NfsConf;

constexpr const char* kOrigin = NSM_FUZZ_SOURCE_DIR "/nfs_conf_include/nfs.conf";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

struct Key {
  std::string section, subsection, key;
  bool has_sub = false;
  bool operator<(const Key& o) const {
    return std::tie(section, has_sub, subsection, key) <
           std::tie(o.section, o.has_sub, o.subsection, o.key);
  }
};

// A rough scan of the text for the (section, subsection, key) triples it sets, plus
// the keys the option parsers read. Capped so one input stays cheap.
std::set<Key> KeysOf(std::string_view text) {
  std::set<Key> keys = {
      {"statd", "", "port"}, {"statd", "", "state-directory-path"},
      {"statd", "", "name"}, {"sm-notify", "", "retry-time"},
      {"lockd", "", "port"}, {"environment", "", "HOME"},
  };
  Key cur{"", "", "", false};
  size_t pos = 0;
  while (pos < text.size() && keys.size() < 64) {
    size_t nl = text.find('\n', pos);
    std::string_view line = Trim(text.substr(pos, nl == std::string_view::npos ? nl : nl - pos));
    pos = nl == std::string_view::npos ? text.size() : nl + 1;
    if (!line.empty() && line.front() == '[') {
      std::string_view name =
          line.substr(1, line.find(']') == std::string_view::npos ? std::string_view::npos
                                                                  : line.find(']') - 1);
      size_t q = name.find('"');
      cur.has_sub = q != std::string_view::npos;
      cur.section = std::string(Trim(name.substr(0, q)));
      cur.subsection.clear();
      if (cur.has_sub) {
        std::string_view sub = name.substr(q + 1);
        cur.subsection = std::string(sub.substr(0, sub.find('"')));
      }
      continue;
    }
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    Key k = cur;
    k.key = std::string(Trim(line.substr(0, eq)));
    keys.insert(k);
  }
  return keys;
}

void QueryKeys(const NfsConf& conf, const std::set<Key>& keys) {
  for (const Key& k : keys) {
    if (k.has_sub) {
      (void)conf.Get(k.section, k.subsection, k.key);
      continue;
    }
    std::optional<std::string> v = conf.Get(k.section, k.key);
    std::string where = conf.Where(k.section, k.key);
    if (where.empty()) FUZZ_CHECK(!v.has_value());
    auto i = conf.GetInt(k.section, k.key);
    auto b = conf.GetBool(k.section, k.key);
    if (!v.has_value()) {
      FUZZ_CHECK(i.ok() && !i->has_value());
      FUZZ_CHECK(b.ok() && !b->has_value());
    } else {
      if (i.ok()) FUZZ_CHECK(i->has_value());
      if (b.ok()) FUZZ_CHECK(b->has_value() && nsm::config::ParseConfBool(*v) == **b);
      if (!i.ok()) FUZZ_CHECK(!i.status().message().empty());
    }
  }
}

bool GoodHostName(const std::string& s) {
  if (s.empty() || s.size() > 1024) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c == 0x7f) return false;
  }
  return true;
}

void RunOptionParsers(const NfsConf& conf, const std::vector<std::string>& extra) {
  for (const char* prog : {"rpc.statd", "sm-notify"}) {
    std::vector<std::string> storage;
    storage.emplace_back(prog);
    storage.insert(storage.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& s : storage) argv.push_back(s.data());
    argv.push_back(nullptr);
    int argc = static_cast<int>(storage.size());
    if (std::string_view(prog) == "rpc.statd") {
      auto o = nsm::config::ParseStatdOptions(argc, argv.data(), conf);
      if (!o.ok()) {
        FUZZ_CHECK(o.status().code() != nsm::Code::kInternal);
        continue;
      }
      if (o->help || o->version) continue;
      FUZZ_CHECK(!o->state_dir.empty() && o->state_dir.front() == '/');
      if (o->name) FUZZ_CHECK(GoodHostName(*o->name));
    } else {
      auto o = nsm::config::ParseSmNotifyOptions(argc, argv.data(), conf);
      if (!o.ok()) {
        FUZZ_CHECK(o.status().code() != nsm::Code::kInternal);
        continue;
      }
      if (o->help) continue;
      FUZZ_CHECK(!o->state_dir.empty() && o->state_dir.front() == '/');
      FUZZ_CHECK(o->retry_minutes >= 0 &&
                 o->retry_minutes <= nsm::config::SmNotifyOptions::kMaxRetryMinutes);
      if (o->source) FUZZ_CHECK(GoodHostName(*o->source));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  size_t nul = all.find('\0');
  std::string_view text = all.substr(0, nul);
  std::vector<std::string> extra;
  if (nul != std::string_view::npos) {
    std::string_view rest = all.substr(nul + 1);
    while (!rest.empty() && extra.size() < 16) {
      size_t end = rest.find('\0');
      extra.emplace_back(rest.substr(0, end));
      rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    }
  }

  auto conf = NfsConf::Parse(text, kOrigin);
  auto again = NfsConf::Parse(text, kOrigin);
  FUZZ_CHECK(conf.ok() == again.ok());
  if (!conf.ok()) {
    FUZZ_CHECK(conf.status().code() != nsm::Code::kOk);
    FUZZ_CHECK(conf.status().message() == again.status().message());
    RunOptionParsers(NfsConf(), extra);  // an empty configuration
    return 0;
  }
  FUZZ_CHECK(conf->size() == again->size());
  FUZZ_CHECK(conf->warnings() == again->warnings());
  FUZZ_CHECK(conf->files() == again->files());

  QueryKeys(*conf, KeysOf(text));
  RunOptionParsers(*conf, extra);
  return 0;
}
