// Pure parsers and formatters of nfs-utils' record files and state file (see format.h).
#include "legacy/format.h"

#include <arpa/inet.h>

#include <cstdio>
#include <cstring>
#include <limits>

namespace nsm::legacy {
namespace {

constexpr size_t kFields = 7;

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

// Parses one line without its end of line; returns an empty string on success, else
// the reason.
std::string ParseFields(std::string_view line, Record* r) {
  if (line.find('\0') != std::string_view::npos) return "NUL byte";
  std::vector<std::string_view> f = Fields(line, kFields);
  if (f.size() < kFields) {
    return "too few fields (found " + std::to_string(f.size()) + ", expected 7)";
  }
  if (f.size() > kFields) return "too many fields (expected 7)";
  if (!ParseHex32(f[0], &r->callback_addr)) return "bad callback address field";
  if (!ParseHex32(f[1], &r->prog)) return "bad program field";
  if (!ParseHex32(f[2], &r->vers)) return "bad version field";
  if (!ParseHex32(f[3], &r->proc)) return "bad procedure field";
  std::optional<store::Priv> priv = PrivFromHex(f[4]);
  if (!priv) return "bad priv field (32 hex digits)";
  r->priv = *priv;
  if (!store::ValidName(f[5])) return "invalid mon_name";
  if (!store::ValidName(f[6])) return "invalid my_name";
  r->mon_name = std::string(f[5]);
  r->my_name = std::string(f[6]);
  r->line = std::string(line);
  return "";
}

std::string_view WithoutCr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

ParsedFile ParseRecords(std::string_view content) {
  ParsedFile out;
  size_t pos = 0;
  size_t number = 0;
  while (pos < content.size()) {
    size_t end = content.find('\n', pos);
    if (end == std::string_view::npos) end = content.size();
    std::string_view line = WithoutCr(content.substr(pos, end - pos));
    pos = end + 1;
    ++number;
    bool blank = true;
    for (char c : line) {
      if (!IsBlank(c)) {
        blank = false;
        break;
      }
    }
    if (blank) continue;
    Record r;
    std::string why = ParseFields(line, &r);
    if (why.empty()) {
      out.records.push_back(std::move(r));
    } else {
      out.errors.push_back("line " + std::to_string(number) + ": " + why);
    }
  }
  return out;
}

Result<Record> ParseLine(std::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  Record r;
  std::string why = ParseFields(WithoutCr(line), &r);
  if (!why.empty()) return Status(Code::kInvalidArgument, why);
  return r;
}

std::string FormatLine(const Record& r) {
  char head[48];
  std::snprintf(head, sizeof head, "%08x %08x %08x %08x ", r.callback_addr, r.prog, r.vers, r.proc);
  return head + PrivToHex(r.priv) + " " + r.mon_name + " " + r.my_name + "\n";
}

std::string PrivToHex(const store::Priv& priv) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(2 * priv.size());
  for (uint8_t b : priv) {
    s.push_back(kHex[b >> 4]);
    s.push_back(kHex[b & 15]);
  }
  return s;
}

std::optional<store::Priv> PrivFromHex(std::string_view hex) {
  store::Priv p{};
  if (hex.size() != 2 * p.size()) return std::nullopt;
  for (size_t i = 0; i < p.size(); ++i) {
    int hi = HexDigit(hex[2 * i]), lo = HexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    p[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return p;
}

uint32_t CallbackAddrFromIpv4(std::string_view ipv4) {
  in_addr a{};
  std::string s(ipv4);
  if (inet_pton(AF_INET, s.c_str(), &a) != 1) a.s_addr = htonl(INADDR_LOOPBACK);
  return a.s_addr;  // network-order bytes read as a host integer, as nfs-utils prints it
}

std::string Ipv4FromCallbackAddr(uint32_t addr) {
  in_addr a{};
  a.s_addr = addr;
  char buf[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &a, buf, sizeof buf);
  return buf;
}

bool ValidFileName(std::string_view name) { return store::ValidName(name); }

std::optional<uint32_t> ParseState(std::string_view bytes) {
  if (bytes.size() < sizeof(uint32_t)) return std::nullopt;
  uint32_t v = 0;
  std::memcpy(&v, bytes.data(), sizeof v);
  return v;
}

std::string EncodeState(uint32_t state) {
  std::string out(sizeof state, '\0');
  std::memcpy(out.data(), &state, sizeof state);
  return out;
}

StateStep NextState(std::optional<uint32_t> current, bool bump) {
  StateStep step;
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

}  // namespace nsm::legacy
