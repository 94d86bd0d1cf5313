// nfs-utils state directories as sm-notify uses them: loading sm/ + sm.bak/, removing a
// notified peer's lines, the state file. The format itself: legacy_format_test.cc.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "legacy/format.h"
#include "notify/legacy_dir.h"
#include "notify_legacy_util.h"

namespace nsm::notify {
namespace {

namespace fs = std::filesystem;

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
  Write("state", legacy::EncodeState(41));
  fs::create_directory(dir_ + "/sm/subdir");
  EXPECT_TRUE(HasLegacyFiles(dir_));

  Result<test::WholeDir> d = test::ReadWholeDir(dir_);
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

TEST_F(LegacyDirTest, LargeDirectoriesKeepNameOrderInEntriesAndWarnings) {
  // Every 100th file is garbage, every 250th a directory, every 333rd holds two
  // records: entries and warnings come in name order.
  constexpr int kFiles = 3000;
  size_t expect_entries = 0;
  std::vector<std::string> expect_warning_files;
  for (int i = 0; i < kFiles; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "peer%05d.example", i);
    if (i % 250 == 0) {
      fs::create_directory(dir_ + "/sm/" + name);
      expect_warning_files.push_back(name);
    } else if (i % 100 == 0) {
      Write(std::string("sm/") + name, "garbage\n");
      expect_warning_files.push_back(name);
    } else if (i % 333 == 0) {
      Write(std::string("sm/") + name, Line(name, "one") + "\n" + Line(name, "two") + "\n");
      expect_entries += 2;
    } else {
      Write(std::string("sm/") + name, Line(name, "server") + "\n");
      ++expect_entries;
    }
  }
  Result<test::WholeDir> d = test::ReadWholeDir(dir_);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->entries.size(), expect_entries);
  for (size_t i = 1; i < d->entries.size(); ++i) {
    ASSERT_LE(d->entries[i - 1].file, d->entries[i].file) << i;
  }
  for (const LegacyEntry& e : d->entries) {
    ASSERT_TRUE(e.has_record);
    ASSERT_EQ(e.record.mon_name, e.file);
  }
  ASSERT_EQ(d->warnings.size(), expect_warning_files.size());
  for (size_t i = 0; i < d->warnings.size(); ++i) {
    EXPECT_NE(d->warnings[i].find(expect_warning_files[i]), std::string::npos) << d->warnings[i];
  }
}

TEST_F(LegacyDirTest, StateFileAloneMakesALegacyDirectory) {
  Write("state", legacy::EncodeState(3));
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
  Result<test::WholeDir> d = test::ReadWholeDir(dir_);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->entries.empty());
  EXPECT_EQ(d->warnings.size(), 1u);
  EXPECT_FALSE(RemoveLegacyNotified(dir_, "x.example", "x.example", "server").ok());
  EXPECT_TRUE(fs::exists(dir_ + "/outside"));
}

TEST_F(LegacyDirTest, WritesTheStateFileAtomically) {
  ASSERT_TRUE(WriteLegacyState(dir_, 0x01020305).ok());
  EXPECT_EQ(Read("state"), legacy::EncodeState(0x01020305));
  Result<test::WholeDir> d = test::ReadWholeDir(dir_);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->state, 0x01020305u);
  Write("state", "ab");
  d = test::ReadWholeDir(dir_);
  EXPECT_FALSE(d->state.has_value());
}

}  // namespace
}  // namespace nsm::notify
