// Parser of the sidecar's test table (see test_table.h).
#include "resolver/test_table.h"

#include <charconv>

#include "resolver/resolver_internal.h"

namespace nsm::resolver {
namespace {

std::vector<std::string_view> Split(std::string_view line) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) out.push_back(line.substr(start, i - start));
  }
  return out;
}

}  // namespace

Result<TestTable> ParseTestTable(std::string_view text) {
  TestTable table;
  int lineno = 0;
  while (!text.empty()) {
    ++lineno;
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (auto hash = line.find('#'); hash != std::string_view::npos) line = line.substr(0, hash);
    auto words = Split(line);
    if (words.empty()) continue;
    auto bad = [&](const std::string& why) {
      return Status(Code::kInvalidArgument,
                    "test hosts table line " + std::to_string(lineno) + ": " + why);
    };
    if (words.size() < 2) return bad("expected a name and an answer");
    TestEntry e;
    size_t i = 1;
    if (words[i] == "slow") {
      if (words.size() < 4) return bad("expected: slow <ms> <answer>");
      int ms = 0;
      auto w = words[i + 1];
      auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), ms);
      if (ec != std::errc() || p != w.data() + w.size() || ms < 0) return bad("bad delay");
      e.delay = std::chrono::milliseconds(ms);
      i += 2;
    }
    std::string_view what = words[i];
    if (what == "writeprobe") {
      if (words.size() != i + 2) return bad("expected: writeprobe <path>");
      e.kind = TestEntry::Kind::kWriteProbe;
      e.path = std::string(words[i + 1]);
      table[LowerName(words[0])] = std::move(e);
      continue;
    }
    if (what == "signalprobe") {
      if (words.size() != i + 2) return bad("expected: signalprobe <pid>");
      auto w = words[i + 1];
      int pid = 0;
      auto [p, ec] = std::from_chars(w.data(), w.data() + w.size(), pid);
      if (ec != std::errc() || p != w.data() + w.size() || pid <= 0) return bad("bad pid");
      e.kind = TestEntry::Kind::kSignalProbe;
      e.pid = pid;
      table[LowerName(words[0])] = std::move(e);
      continue;
    }
    static const std::pair<std::string_view, TestEntry::Kind> kKeywords[] = {
        {"nxdomain", TestEntry::Kind::kNotFound}, {"tempfail", TestEntry::Kind::kTemporary},
        {"hang", TestEntry::Kind::kHang},         {"crash", TestEntry::Kind::kCrash},
        {"garbage", TestEntry::Kind::kGarbage},   {"wrongid", TestEntry::Kind::kWrongId},
        {"misroute", TestEntry::Kind::kMisroute}, {"freeze", TestEntry::Kind::kFreeze},
    };
    bool keyword = false;
    for (const auto& [word, kind] : kKeywords) {
      if (what == word) {
        if (words.size() != i + 1) return bad("extra words after " + std::string(word));
        e.kind = kind;
        keyword = true;
      }
    }
    if (!keyword) {
      e.kind = TestEntry::Kind::kAddresses;
      for (; i < words.size(); ++i) {
        auto a = net::Address::Parse(words[i]);
        if (!a) return bad("not an IP literal or keyword: " + std::string(words[i]));
        e.addresses.push_back(*a);
      }
    }
    table[LowerName(words[0])] = std::move(e);
  }
  return table;
}

}  // namespace nsm::resolver
