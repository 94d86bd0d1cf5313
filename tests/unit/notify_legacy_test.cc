// nfs-utils record files and state file: the pure parser, and the directory side
// (loading sm/ + sm.bak/, removing a notified peer's lines, the state file).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "notify/legacy_dir.h"
#include "notify/legacy_format.h"

namespace nsm::notify {
namespace {

namespace fs = std::filesystem;

// The line of the reference (nsm-reference.md section 3), as nfs-utils writes it.
constexpr char kLine[] =
    "0100007f 000186b5 00000003 00000010 69300000000000000000000000000000 127.1.0.1 vm";

TEST(LegacyFormat, ParsesTheReferenceLine) {
  LegacyParse p = ParseLegacyRecords(std::string(kLine) + "\n");
  ASSERT_TRUE(p.errors.empty()) << p.errors[0];
  ASSERT_EQ(p.records.size(), 1u);
  const LegacyRecord& r = p.records[0];
  EXPECT_EQ(r.callback_addr, 0x0100007fu);
  EXPECT_EQ(r.prog, 100021u);
  EXPECT_EQ(r.vers, 3u);
  EXPECT_EQ(r.proc, 16u);
  EXPECT_EQ(r.priv[0], 0x69);
  EXPECT_EQ(r.priv[1], 0x30);
  EXPECT_EQ(r.priv[15], 0x00);
  EXPECT_EQ(r.mon_name, "127.1.0.1");
  EXPECT_EQ(r.my_name, "vm");
  EXPECT_EQ(r.line, kLine);
}

TEST(LegacyFormat, SeveralLinesBlankLinesCrLfAndNoFinalNewline) {
  std::string text = std::string(kLine) + "\r\n\n   \n" +
                     "0100007f 000186b5 00000004 00000018 "
                     "00112233445566778899AABBCCDDEEFF client.example server.example";
  LegacyParse p = ParseLegacyRecords(text);
  ASSERT_TRUE(p.errors.empty()) << p.errors[0];
  ASSERT_EQ(p.records.size(), 2u);
  EXPECT_EQ(p.records[0].my_name, "vm");
  EXPECT_EQ(p.records[1].vers, 4u);
  EXPECT_EQ(p.records[1].proc, 24u);
  EXPECT_EQ(p.records[1].priv[15], 0xff);
  EXPECT_EQ(p.records[1].mon_name, "client.example");
  EXPECT_EQ(p.records[1].my_name, "server.example");
}

TEST(LegacyFormat, ReportsBadLinesAndKeepsGoodOnes) {
  const std::string good = std::string(kLine) + "\n";
  struct Case {
    std::string line;
    std::string why;
  } cases[] = {
      {"0100007f 000186b5 00000003", "too few fields"},
      {std::string(kLine) + " extra", "too many fields"},
      {"0100007g 000186b5 00000003 00000010 69300000000000000000000000000000 a b",
       "bad callback address"},
      {"123456789 000186b5 00000003 00000010 69300000000000000000000000000000 a b",
       "bad callback address"},
      {"0100007f 000186b5 00000003 00000010 6930000000000000000000000000000 a b", "bad priv"},
      {"0100007f 000186b5 00000003 00000010 6930000000000000000000000000000z a b", "bad priv"},
      {"0100007f 000186b5 00000003 00000010 69300000000000000000000000000000 ../etc b",
       "invalid mon_name"},
      {"0100007f 000186b5 00000003 00000010 69300000000000000000000000000000 .hidden b",
       "invalid mon_name"},
      {"0100007f 000186b5 00000003 00000010 69300000000000000000000000000000 a b\x01",
       "invalid my_name"},
      {std::string("0100007f 000186b5 00000003 00000010 69300000000000000000000000000000 a ") +
           std::string(1025, 'x'),
       "invalid my_name"},
  };
  for (const Case& c : cases) {
    LegacyParse p = ParseLegacyRecords(good + c.line + "\n" + good);
    EXPECT_EQ(p.records.size(), 2u) << c.line;
    ASSERT_EQ(p.errors.size(), 1u) << c.line;
    EXPECT_NE(p.errors[0].find("line 2: " + c.why), std::string::npos) << p.errors[0];
  }
  LegacyParse nul = ParseLegacyRecords(std::string(kLine, 20) + std::string(1, '\0') + "x\n");
  EXPECT_TRUE(nul.records.empty());
  EXPECT_EQ(nul.errors.size(), 1u);
}

TEST(LegacyFormat, ArbitraryBytesNeverYieldAnUnsafeRecord) {
  // A small fuzz loop (the parser is also a fuzz target): mutate a valid file.
  const std::string base = std::string(kLine) + "\n" + kLine + "\n";
  uint64_t x = 88172645463325252ULL;
  auto next = [&x] {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return x;
  };
  for (int i = 0; i < 20000; ++i) {
    std::string s = base;
    for (int k = 0, n = static_cast<int>(next() % 6) + 1; k < n; ++k) {
      const size_t at = next() % (s.size() + 1);
      switch (next() % 3) {
        case 0:
          s.insert(at, 1, static_cast<char>(next() & 0xff));
          break;
        case 1:
          if (at < s.size()) s.erase(at, 1);
          break;
        default:
          if (at < s.size()) s[at] = static_cast<char>(next() & 0xff);
      }
    }
    LegacyParse p = ParseLegacyRecords(s);
    EXPECT_LE(p.records.size() + p.errors.size(), 4u);
    for (const LegacyRecord& r : p.records) {
      EXPECT_TRUE(ValidLegacyFileName(r.mon_name)) << r.line;
      EXPECT_TRUE(ValidLegacyFileName(r.my_name)) << r.line;
      EXPECT_EQ(r.line.find('\n'), std::string::npos);
    }
  }
}

TEST(LegacyFormat, EmptyContentHasNoRecordsAndNoErrors) {
  EXPECT_TRUE(ParseLegacyRecords("").records.empty());
  EXPECT_TRUE(ParseLegacyRecords("\n\n").errors.empty());
}

TEST(LegacyFormat, FileNames) {
  EXPECT_TRUE(ValidLegacyFileName("client.example"));
  EXPECT_TRUE(ValidLegacyFileName("198.18.1.2"));
  EXPECT_TRUE(ValidLegacyFileName("fd00::2"));
  EXPECT_FALSE(ValidLegacyFileName(""));
  EXPECT_FALSE(ValidLegacyFileName(".client.new"));
  EXPECT_FALSE(ValidLegacyFileName("a/b"));
  EXPECT_FALSE(ValidLegacyFileName("a b"));
}

TEST(LegacyFormat, StateFileAndItsUpdateRule) {
  EXPECT_EQ(ParseLegacyState(EncodeLegacyState(17)), 17u);
  EXPECT_EQ(ParseLegacyState(EncodeLegacyState(17) + "junk"), 17u);
  EXPECT_FALSE(ParseLegacyState("abc").has_value());
  // nfs-utils: missing -> 1, always written, +2 -> 3.
  EXPECT_EQ(NextLegacyState(std::nullopt, false).state, 3u);
  EXPECT_TRUE(NextLegacyState(std::nullopt, false).write);
  EXPECT_EQ(NextLegacyState(5, true).state, 7u);
  EXPECT_TRUE(NextLegacyState(5, true).write);
  EXPECT_EQ(NextLegacyState(5, false).state, 5u);
  EXPECT_FALSE(NextLegacyState(5, false).write);
  EXPECT_EQ(NextLegacyState(6, false).state, 7u);  // even: down, becomes up
  EXPECT_EQ(NextLegacyState(6, true).state, 9u);
  EXPECT_EQ(NextLegacyState(0xffffffffu, true).state, 1u);  // wraps, stays odd
}

// ---------------------------------------------------------------- directories
class LegacyDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nsm-legacy-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fs::create_directory(dir_ + "/sm");
    fs::create_directory(dir_ + "/sm.bak");
  }
  void TearDown() override { fs::remove_all(dir_); }
  void Write(const std::string& rel, const std::string& text) {
    std::ofstream(dir_ + "/" + rel, std::ios::binary) << text;
  }
  std::string Read(const std::string& rel) {
    std::ifstream f(dir_ + "/" + rel, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  static std::string Line(const std::string& mon, const std::string& my, int vers = 3) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "0100007f 000186b5 %08x 00000010 %032x %s %s", vers, vers,
                  mon.c_str(), my.c_str());
    return buf;
  }
  std::string dir_;
};

TEST_F(LegacyDirTest, LoadsNotifyDirFirstThenMonitorsAndState) {
  EXPECT_FALSE(HasLegacyFiles(dir_));
  Write("sm/b.example", Line("b.example", "server") + "\n");
  Write("sm.bak/a.example", Line("a.example", "server") + "\n" + Line("a.example", "alias") + "\n");
  Write("sm/.a.example.new", "temporary file of nfs-utils\n");
  Write("sm/ctdb-touched", "");  // an empty file: a peer known by name only
  Write("sm/garbage", "not a record\n");
  Write("state", EncodeLegacyState(41));
  fs::create_directory(dir_ + "/sm/subdir");
  EXPECT_TRUE(HasLegacyFiles(dir_));

  Result<LegacyDir> d = LoadLegacyDir(dir_);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->entries.size(), 4u);
  EXPECT_EQ(d->entries[0].file, "a.example");
  EXPECT_TRUE(d->entries[0].in_notify_dir);
  EXPECT_EQ(d->entries[0].record.my_name, "server");
  EXPECT_EQ(d->entries[1].record.my_name, "alias");
  EXPECT_EQ(d->entries[2].file, "b.example");
  EXPECT_FALSE(d->entries[2].in_notify_dir);
  EXPECT_EQ(d->entries[3].file, "ctdb-touched");
  EXPECT_FALSE(d->entries[3].has_record);
  EXPECT_EQ(d->state, 41u);
  // garbage (bad line) and subdir (not a regular file) were reported.
  EXPECT_EQ(d->warnings.size(), 2u);
}

TEST_F(LegacyDirTest, StateFileAloneMakesALegacyDirectory) {
  Write("state", EncodeLegacyState(3));
  EXPECT_TRUE(HasLegacyFiles(dir_));
}

TEST_F(LegacyDirTest, RemovesOnlyTheMatchingLinesThenTheFile) {
  const std::string a = Line("a.example", "server"), b = Line("a.example", "alias", 4);
  Write("sm.bak/a.example", a + "\n" + b + "\n");
  ASSERT_TRUE(RemoveLegacyNotified(dir_, "a.example", "a.example", "server").ok());
  EXPECT_EQ(Read("sm.bak/a.example"), b + "\n");
  // No match: unchanged.
  ASSERT_TRUE(RemoveLegacyNotified(dir_, "a.example", "a.example", "nobody").ok());
  EXPECT_EQ(Read("sm.bak/a.example"), b + "\n");
  ASSERT_TRUE(RemoveLegacyNotified(dir_, "a.example", "a.example", "alias").ok());
  EXPECT_FALSE(fs::exists(dir_ + "/sm.bak/a.example"));
  // Already gone: fine. No temporary file left behind.
  EXPECT_TRUE(RemoveLegacyNotified(dir_, "a.example", "a.example", "alias").ok());
  EXPECT_TRUE(fs::is_empty(dir_ + "/sm.bak"));
}

TEST_F(LegacyDirTest, EmptyFileIsRemovedForANameOnlyPeer) {
  Write("sm.bak/touched", "");
  ASSERT_TRUE(RemoveLegacyNotified(dir_, "touched", "", "").ok());
  EXPECT_FALSE(fs::exists(dir_ + "/sm.bak/touched"));
}

TEST_F(LegacyDirTest, UnparsableFileIsLeftAlone) {
  Write("sm.bak/a.example", Line("a.example", "server") + "\nbroken\n");
  Status s = RemoveLegacyNotified(dir_, "a.example", "a.example", "server");
  EXPECT_EQ(s.code(), Code::kCorruption);
  EXPECT_TRUE(fs::exists(dir_ + "/sm.bak/a.example"));
  EXPECT_EQ(RemoveLegacyNotified(dir_, "../x", "a", "b").code(), Code::kInvalidArgument);
}

TEST_F(LegacyDirTest, NeverFollowsSymlinks) {
  Write("outside", Line("x.example", "server") + "\n");
  fs::create_symlink(dir_ + "/outside", dir_ + "/sm.bak/x.example");
  Result<LegacyDir> d = LoadLegacyDir(dir_);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->entries.empty());
  EXPECT_EQ(d->warnings.size(), 1u);
  EXPECT_FALSE(RemoveLegacyNotified(dir_, "x.example", "x.example", "server").ok());
  EXPECT_TRUE(fs::exists(dir_ + "/outside"));
}

TEST_F(LegacyDirTest, WritesTheStateFileAtomically) {
  ASSERT_TRUE(WriteLegacyState(dir_, 0x01020305).ok());
  EXPECT_EQ(Read("state"), EncodeLegacyState(0x01020305));
  Result<LegacyDir> d = LoadLegacyDir(dir_);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, 0x01020305u);
  Write("state", "ab");
  d = LoadLegacyDir(dir_);
  EXPECT_FALSE(d->state.has_value());
}

}  // namespace
}  // namespace nsm::notify
