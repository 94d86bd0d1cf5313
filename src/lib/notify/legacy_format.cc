// Pure parsers of nfs-utils' record files and state file (see legacy_format.h).
#include "notify/legacy_format.h"

#include <cstring>
#include <limits>

#include "store/store.h"

namespace nsm::notify {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ParseHex32(std::string_view s, uint32_t* out) {
  if (s.empty() || s.size() > 8) return false;
  uint32_t v = 0;
  for (char c : s) {
    int d = HexDigit(c);
    if (d < 0) return false;
    v = (v << 4) | static_cast<uint32_t>(d);
  }
  *out = v;
  return true;
}

bool ParsePriv(std::string_view s, std::array<uint8_t, 16>* out) {
  if (s.size() != 32) return false;
  for (size_t i = 0; i < 16; ++i) {
    int hi = HexDigit(s[2 * i]), lo = HexDigit(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return true;
}

// Splits on runs of blanks; stops after max_fields + 1 fields (the caller only needs
// to know there were too many).
std::vector<std::string_view> Fields(std::string_view line, size_t max_fields) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size() && out.size() <= max_fields) {
    while (i < line.size() && IsBlank(line[i])) ++i;
    if (i == line.size()) break;
    size_t start = i;
    while (i < line.size() && !IsBlank(line[i])) ++i;
    out.push_back(line.substr(start, i - start));
  }
  return out;
}

// Parses one non-blank line; returns an empty string on success, else the reason.
std::string ParseLine(std::string_view line, LegacyRecord* r) {
  for (char c : line) {
    if (c == '\0') return "NUL byte";
  }
  std::vector<std::string_view> f = Fields(line, 7);
  if (f.size() != 7) {
    return f.size() < 7 ? "too few fields" : "too many fields";
  }
  if (!ParseHex32(f[0], &r->callback_addr)) return "bad callback address field";
  if (!ParseHex32(f[1], &r->prog)) return "bad program field";
  if (!ParseHex32(f[2], &r->vers)) return "bad version field";
  if (!ParseHex32(f[3], &r->proc)) return "bad procedure field";
  if (!ParsePriv(f[4], &r->priv)) return "bad priv field (32 hex digits)";
  if (!store::ValidName(f[5])) return "invalid mon_name";
  if (!store::ValidName(f[6])) return "invalid my_name";
  r->mon_name = std::string(f[5]);
  r->my_name = std::string(f[6]);
  r->line = std::string(line);
  return "";
}

}  // namespace

LegacyParse ParseLegacyRecords(std::string_view content) {
  LegacyParse out;
  size_t pos = 0;
  size_t number = 0;
  while (pos < content.size()) {
    size_t end = content.find('\n', pos);
    if (end == std::string_view::npos) end = content.size();
    std::string_view line = content.substr(pos, end - pos);
    pos = end + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool blank = true;
    for (char c : line) {
      if (!IsBlank(c)) {
        blank = false;
        break;
      }
    }
    if (blank) continue;
    LegacyRecord r;
    std::string why = ParseLine(line, &r);
    if (why.empty()) {
      out.records.push_back(std::move(r));
    } else {
      out.errors.push_back("line " + std::to_string(number) + ": " + why);
    }
  }
  return out;
}

bool ValidLegacyFileName(std::string_view name) { return store::ValidName(name); }

std::optional<uint32_t> ParseLegacyState(std::string_view bytes) {
  if (bytes.size() < sizeof(uint32_t)) return std::nullopt;
  uint32_t v = 0;
  std::memcpy(&v, bytes.data(), sizeof v);
  return v;
}

std::string EncodeLegacyState(uint32_t state) {
  std::string out(sizeof state, '\0');
  std::memcpy(out.data(), &state, sizeof state);
  return out;
}

LegacyStateStep NextLegacyState(std::optional<uint32_t> current, bool bump) {
  LegacyStateStep step;
  uint64_t s = 1;
  if (current) {
    s = *current;
    if (s % 2 == 0) ++s;
  } else {
    bump = true;  // nfs-utils initialises a missing state and always writes it
  }
  if (bump) s += 2;
  if (s > std::numeric_limits<uint32_t>::max()) s = 1;  // wrap, staying odd
  step.state = static_cast<uint32_t>(s);
  step.write = bump;
  return step;
}

}  // namespace nsm::notify
