// NfsConf: a reader for /etc/nfs.conf in nfs-utils' "conffile" format, with the
// same results as nfs-utils 2.6 for the same files (see docs/config.md for the
// few places where nsm deliberately differs: bounds, loops, unreadable files).
//
// Format, as nfs-utils reads it:
//   [section]  or  [section "subsection"]     names are case-insensitive
//   key = value                               blanks around key, '=' and value trimmed
//   key = "value" / 'value'                   quotes removed, text after them ignored
//   unquoted values end at the first '#' or ';'
//   lines whose first non-blank is '#' or ';' are comments
//   a backslash just before a newline joins the next line (both become spaces)
//   an empty value is ignored (it does not clear an earlier setting)
//   value "$NAME": the environment variable NAME if set and non-empty, else the key
//     NAME of section [environment]
//   include = path / include = -path          read another file in place (relative to
//     the including file's directory); "-" makes a missing file silent. The included
//     file starts in the includer's section; its headers do not leak back.
//   after the main file, <path>.d/*.conf in version order (strverscmp), each starting
//   with no section. A later setting of the same [section "sub"] key replaces an
//   earlier one.
// Malformed lines (no section, no '=', unmatched quote or ']', empty key, last line
// without a newline) are skipped with a warning, exactly as nfs-utils does; the
// warnings are kept in warnings() for the caller to log (logging may not be set up
// yet when the configuration is read).
// Hard errors (kInvalidArgument / kIoError / kPermission): a line longer than
// kMaxLineLength, a file larger than kMaxFileSize or containing a NUL byte, includes
// nested deeper than kMaxIncludeDepth (an include loop), an existing file that cannot
// be read, more than kMaxDropIns drop-in files.
//
// Threading: an NfsConf is immutable after Load/Parse; const methods are safe to call
// concurrently (Get reads the process environment for "$NAME" values).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace nsm::config {

class NfsConf {
 public:
  static constexpr size_t kMaxLineLength = 4096;
  static constexpr size_t kMaxFileSize = 1 << 20;
  static constexpr int kMaxIncludeDepth = 10;
  static constexpr size_t kMaxDropIns = 1000;

  NfsConf() = default;  // an empty configuration

  // Reads path, then every "<path>.d/*.conf". A missing main file (or a missing
  // directory) is an empty configuration, not an error.
  static Result<NfsConf> Load(const std::string& path);
  // Parses text as if it were the file named origin (used in messages and as the
  // base directory of relative includes, which are read from disk).
  static Result<NfsConf> Parse(std::string_view text, std::string_view origin);

  // The value of key in [section] (no subsection), after "$NAME" expansion; nullopt
  // when unset. Section and key are compared case-insensitively.
  std::optional<std::string> Get(std::string_view section, std::string_view key) const;
  // The value of key in [section "subsection"] (subsection also case-insensitive).
  std::optional<std::string> Get(std::string_view section, std::string_view subsection,
                                 std::string_view key) const;
  // Integer value: optional sign and decimal digits only. kInvalidArgument (naming
  // the file and line) for anything else; nullopt when unset.
  Result<std::optional<int64_t>> GetInt(std::string_view section, std::string_view key) const;
  // Boolean value: 1/0, y/n, yes/no, t/f, true/false, on/off, case-insensitive.
  // kInvalidArgument for anything else (nfs-utils silently uses its default).
  Result<std::optional<bool>> GetBool(std::string_view section, std::string_view key) const;
  // "file:line" where key of [section] was set, or "" when unset. For messages.
  std::string Where(std::string_view section, std::string_view key) const;

  // Non-fatal problems found while reading, each "file:line: text".
  const std::vector<std::string>& warnings() const { return warnings_; }
  // Files actually read, in order (main file, includes, drop-ins).
  const std::vector<std::string>& files() const { return files_; }
  // Number of distinct settings.
  size_t size() const { return entries_.size(); }

 private:
  friend class ConfParser;
  struct Entry {
    std::string value;
    std::string origin;  // "file:line"
  };
  const Entry* Find(std::string_view section, const std::string* subsection,
                    std::string_view key) const;
  std::optional<std::string> Expand(const Entry& e) const;

  std::map<std::string, Entry> entries_;  // key: MakeKey(section, subsection, key)
  std::vector<std::string> warnings_;
  std::vector<std::string> files_;
};

// Parses a boolean the way nfs-utils' conf_get_bool does; nullopt if not one of
// the accepted words. Exposed for option parsers and tests.
std::optional<bool> ParseConfBool(std::string_view text);

}  // namespace nsm::config
