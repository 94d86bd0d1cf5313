// NfsConf: line parser, include handling and drop-in directory for nfs.conf.
// Each rule below names the nfs-utils 2.6 behaviour it reproduces (conffile.c).
#include "config/nfs_conf.h"

#include <dirent.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "base/files.h"

namespace nsm::config {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }
bool IsSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string MakeKey(std::string_view section, const std::string* subsection, std::string_view key) {
  std::string k = Lower(section);
  k.push_back('\0');
  if (subsection != nullptr) {
    k.push_back('1');
    k += Lower(*subsection);
  } else {
    k.push_back('0');
  }
  k.push_back('\0');
  k += Lower(key);
  return k;
}

std::string_view TrimTrailing(std::string_view s, bool (*pred)(char)) {
  while (!s.empty() && pred(s.back())) s.remove_suffix(1);
  return s;
}

// dirname(3) without modifying its argument.
std::string DirName(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  size_t slash = p.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  p.resize(slash);
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}

}  // namespace

std::optional<bool> ParseConfBool(std::string_view text) {
  std::string v = Lower(text);
  if (v == "1" || v == "t" || v == "true" || v == "y" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "f" || v == "false" || v == "n" || v == "no" || v == "off") return false;
  return std::nullopt;
}

// Fills an NfsConf. Holds no state of its own besides the target.
class ConfParser {
 public:
  struct SectionState {
    std::optional<std::string> section;
    std::optional<std::string> subsection;
  };

  explicit ConfParser(NfsConf* conf) : conf_(conf) {}

  // Reads and parses one file. A missing file sets *missing and returns ok.
  Status ParseFile(const std::string& path, SectionState* st, int depth, bool* missing) {
    *missing = false;
    // kNotFound when the file does not exist (the callers decide whether that matters).
    Result<std::string> data =
        files::ReadSmallFile(path, NfsConf::kMaxFileSize, nullptr, files::Symlinks::kFollow);
    if (!data.ok()) {
      if (data.status().code() == Code::kNotFound) {
        *missing = true;
        return Status::Ok();
      }
      return data.status();
    }
    conf_->files_.push_back(path);
    return ParseText(*data, path, st, depth);
  }

  Status ParseText(std::string_view text, const std::string& filename, SectionState* st,
                   int depth) {
    std::string line;
    int physical = 0;    // number of newlines seen so far
    int line_start = 1;  // physical line where `line` began
    for (char c : text) {
      if (c == '\0') {
        return Status(Code::kInvalidArgument,
                      filename + ":" + std::to_string(physical + 1) + ": NUL byte in file");
      }
      if (c != '\n') {
        if (line.size() >= NfsConf::kMaxLineLength) {
          return Status(Code::kInvalidArgument,
                        filename + ":" + std::to_string(line_start) + ": line longer than " +
                            std::to_string(NfsConf::kMaxLineLength) + " bytes");
        }
        line.push_back(c);
        continue;
      }
      ++physical;
      // nfs-utils: a backslash right before the newline joins the lines; both
      // characters become spaces.
      if (!line.empty() && line.back() == '\\') {
        line.back() = ' ';
        line.push_back(' ');
        continue;
      }
      Status s = ParseLine(line, filename, line_start, st, depth);
      if (!s.ok()) return s;
      line.clear();
      line_start = physical + 1;
    }
    if (!line.empty()) {
      // nfs-utils: "conf_parse: last line non-terminated, ignored."
      Warn(filename, line_start,
           "last line has no newline at its end; ignored (as nfs-utils does)");
    }
    return Status::Ok();
  }

 private:
  void Warn(const std::string& file, int line, const std::string& text) {
    conf_->warnings_.push_back(file + ":" + std::to_string(line) + ": " + text);
  }

  Status ParseLine(std::string_view line, const std::string& filename, int lineno, SectionState* st,
                   int depth) {
    while (!line.empty() && IsSpace(line.front())) line.remove_prefix(1);
    if (line.empty() || line.front() == '#' || line.front() == ';') return Status::Ok();

    if (line.front() == '[') {
      ParseSectionHeader(line.substr(1), filename, lineno, st);
      return Status::Ok();
    }

    size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      Warn(filename, lineno, "line not empty and not an assignment; ignored");
      return Status::Ok();
    }
    if (!st->section) {
      Warn(filename, lineno, "ignoring line not in a section");
      return Status::Ok();
    }
    std::string_view tag = TrimTrailing(line.substr(0, eq), IsBlank);
    std::string_view val = line.substr(eq + 1);
    while (!val.empty() && IsBlank(val.front())) val.remove_prefix(1);

    if (!val.empty() && (val.front() == '"' || val.front() == '\'')) {
      char quote = val.front();
      val.remove_prefix(1);
      size_t close = val.find(quote);
      if (close == std::string_view::npos) {
        Warn(filename, lineno, "unmatched quotes; line ignored");
        return Status::Ok();
      }
      val = val.substr(0, close);  // anything after the closing quote is ignored
    } else {
      // Unquoted: a '#' or ';' anywhere starts a comment.
      size_t hash = val.find('#');
      if (hash != std::string_view::npos) val = val.substr(0, hash);
      size_t semi = val.find(';');
      if (semi != std::string_view::npos) val = val.substr(0, semi);
      val = TrimTrailing(val, IsSpace);
    }

    if (tag.empty()) {
      Warn(filename, lineno, "missing tag in assignment; ignored");
      return Status::Ok();
    }
    std::string where = filename + ":" + std::to_string(lineno);
    if (Lower(tag) == "include") return Include(val, filename, where, lineno, st, depth);
    if (val.empty()) return Status::Ok();  // nfs-utils ignores empty assignments

    const std::string* sub = st->subsection ? &*st->subsection : nullptr;
    conf_->entries_[MakeKey(*st->section, sub, tag)] = NfsConf::Entry{std::string(val), where};
    return Status::Ok();
  }

  void ParseSectionHeader(std::string_view rest, const std::string& filename, int lineno,
                          SectionState* st) {
    st->section.reset();
    st->subsection.reset();
    while (!rest.empty() && IsBlank(rest.front())) rest.remove_prefix(1);
    size_t close = rest.find(']');
    if (close == std::string_view::npos) {
      Warn(filename, lineno, "non-matched ']', ignoring until next section");
      return;
    }
    std::string_view name = TrimTrailing(rest.substr(0, close), IsBlank);
    size_t quote = name.find('"');
    if (quote == std::string_view::npos) {
      st->section = std::string(name);
      return;
    }
    st->section = std::string(TrimTrailing(name.substr(0, quote), IsBlank));
    std::string_view arg = name.substr(quote + 1);
    size_t endq = arg.find('"');
    if (endq == std::string_view::npos) {
      // nfs-utils says "ignoring until next section" but in fact keeps the section
      // without its subsection; we do the same so that the same file means the same.
      Warn(filename, lineno, "non-matched '\"' in section header");
      return;
    }
    st->subsection = std::string(arg.substr(0, endq));
  }

  Status Include(std::string_view val, const std::string& filename, const std::string& where,
                 int lineno, SectionState* st, int depth) {
    bool optional = false;
    if (!val.empty() && val.front() == '-') {
      optional = true;
      val.remove_prefix(1);
    }
    if (val.empty()) {
      if (!optional) Warn(filename, lineno, "include without a file name; ignored");
      return Status::Ok();
    }
    if (depth + 1 > NfsConf::kMaxIncludeDepth) {
      return Status(Code::kInvalidArgument, where + ": includes nested deeper than " +
                                                std::to_string(NfsConf::kMaxIncludeDepth) +
                                                " (an include loop?)");
    }
    std::string path(val);
    if (path.front() != '/') path = DirName(filename) + "/" + path;
    // The included file inherits our section; its own headers stay inside it.
    SectionState inner = *st;
    bool missing = false;
    Status s = ParseFile(path, &inner, depth + 1, &missing);
    if (!s.ok()) return Status(s.code(), where + ": include: " + s.message());
    if (missing && !optional) {
      Warn(filename, lineno, "error loading included config " + path + ": no such file");
    }
    return Status::Ok();
  }

  NfsConf* conf_;
};

Result<NfsConf> NfsConf::Parse(std::string_view text, std::string_view origin) {
  NfsConf conf;
  ConfParser parser(&conf);
  ConfParser::SectionState st;
  std::string name(origin);
  Status s = parser.ParseText(text, name, &st, 0);
  if (!s.ok()) return s;
  return conf;
}

Result<NfsConf> NfsConf::Load(const std::string& path) {
  NfsConf conf;
  ConfParser parser(&conf);
  {
    ConfParser::SectionState st;
    bool missing = false;
    Status s = parser.ParseFile(path, &st, 0, &missing);
    if (!s.ok()) return s;
  }

  // Drop-ins: "<path>.d/*.conf", skipping hidden files, in version order.
  std::string dir = path + ".d";
  std::unique_ptr<DIR, int (*)(DIR*)> d(opendir(dir.c_str()), closedir);
  if (!d) {
    if (errno == ENOENT || errno == ENOTDIR) return conf;
    return ErrnoStatus("cannot read directory " + dir, errno);
  }
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    struct dirent* e = readdir(d.get());
    if (e == nullptr) {
      if (errno != 0) return ErrnoStatus("cannot read directory " + dir, errno);
      break;
    }
    std::string_view n(e->d_name);
    if (n.empty() || n.front() == '.') continue;
    if (n.size() <= 5 || n.substr(n.size() - 5) != ".conf") continue;
    if (names.size() >= kMaxDropIns) {
      return Status(Code::kInvalidArgument,
                    dir + ": more than " + std::to_string(kMaxDropIns) + " drop-in files");
    }
    names.emplace_back(n);
  }
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
    return strverscmp(a.c_str(), b.c_str()) < 0;
  });
  for (const std::string& n : names) {
    std::string file = dir + "/" + n;
    struct stat sb;
    if (stat(file.c_str(), &sb) != 0) {
      if (errno == ENOENT) continue;  // vanished or a dangling link
      return ErrnoStatus("cannot stat " + file, errno);
    }
    if (!S_ISREG(sb.st_mode)) continue;
    ConfParser::SectionState st;  // each drop-in starts outside any section
    bool missing = false;
    Status s = parser.ParseFile(file, &st, 0, &missing);
    if (!s.ok()) return s;
  }
  return conf;
}

const NfsConf::Entry* NfsConf::Find(std::string_view section, const std::string* subsection,
                                    std::string_view key) const {
  auto it = entries_.find(MakeKey(section, subsection, key));
  return it == entries_.end() ? nullptr : &it->second;
}

std::optional<std::string> NfsConf::Expand(const Entry& e) const {
  // nfs-utils: "$NAME" is the environment variable NAME when set and non-empty,
  // else [environment] NAME, which may itself be "$OTHER". nfs-utils loops forever
  // on a cycle; we give up after a few hops (unset).
  std::string v = e.value;
  for (int hop = 0; hop < 10; ++hop) {
    if (v.empty() || v.front() != '$') return v;
    std::string name = v.substr(1);
    const char* env = name.empty() ? nullptr : std::getenv(name.c_str());
    if (env != nullptr && *env != '\0') return std::string(env);
    const Entry* next = Find("environment", nullptr, name);
    if (next == nullptr) return std::nullopt;
    v = next->value;
  }
  return std::nullopt;
}

std::optional<std::string> NfsConf::Get(std::string_view section, std::string_view key) const {
  const Entry* e = Find(section, nullptr, key);
  if (e == nullptr) return std::nullopt;
  return Expand(*e);
}

std::optional<std::string> NfsConf::Get(std::string_view section, std::string_view subsection,
                                        std::string_view key) const {
  std::string sub(subsection);
  const Entry* e = Find(section, &sub, key);
  if (e == nullptr) return std::nullopt;
  return Expand(*e);
}

std::string NfsConf::Where(std::string_view section, std::string_view key) const {
  const Entry* e = Find(section, nullptr, key);
  return e == nullptr ? std::string() : e->origin;
}

Result<std::optional<int64_t>> NfsConf::GetInt(std::string_view section,
                                               std::string_view key) const {
  std::optional<std::string> v = Get(section, key);
  if (!v) return std::optional<int64_t>();
  std::string_view t = *v;
  bool neg = false;
  if (!t.empty() && (t.front() == '+' || t.front() == '-')) {
    neg = t.front() == '-';
    t.remove_prefix(1);
  }
  uint64_t mag = 0;
  auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), mag);
  bool digits_only =
      !t.empty() && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
  uint64_t limit = neg ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  if (!digits_only || ec != std::errc() || ptr != t.data() + t.size() || mag > limit) {
    return Status(Code::kInvalidArgument, Where(section, key) + ": [" + std::string(section) +
                                              "] " + std::string(key) + " = \"" + *v +
                                              "\" is not an integer");
  }
  int64_t out = neg ? static_cast<int64_t>(0 - mag) : static_cast<int64_t>(mag);
  return std::optional<int64_t>(out);
}

Result<std::optional<bool>> NfsConf::GetBool(std::string_view section, std::string_view key) const {
  std::optional<std::string> v = Get(section, key);
  if (!v) return std::optional<bool>();
  std::optional<bool> b = ParseConfBool(*v);
  if (!b) {
    return Status(Code::kInvalidArgument,
                  Where(section, key) + ": [" + std::string(section) + "] " + std::string(key) +
                      " = \"" + *v + "\" is not a boolean (yes/no, true/false, on/off, 1/0)");
  }
  return std::optional<bool>(b);
}

}  // namespace nsm::config
