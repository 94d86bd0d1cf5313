// nfs-utils state directories as statdctl reads and writes them: directory reader (file
// names, sm.bak, state, bad lines) and writer (byte-exact with nfs-utils' output, round
// trip, refusal to mix, replacement, modes). The line format: legacy_format_test.cc.
#include "ctl/legacy.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

namespace nsm::ctl {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& p, const std::string& data) {
  std::ofstream f(p, std::ios::binary);
  f << data;
}

class LegacyDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nsm-legacy-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string dir_;
};

// Lines as nfs-utils 2.6's rpc.statd wrote them (captured on this machine).
constexpr const char* kNfsUtilsPeerb =
    "0100007f 000186b5 00000003 00000010 000102030405060708090a0b0c0d0e0f 198.18.1.2 nsm-a\n"
    "0100007f 000186b5 00000004 00000010 ffffffffffffffffffffffffffffffff peerb nsm-a\n"
    "0100007f 000186b5 00000003 00000010 41414141414141414141414141414141 198.18.1.2 other\n";
constexpr const char* kNfsUtilsLocalhost =
    "0100007f 000186b5 00000003 00000010 00000000000000000000000000000000 127.0.0.1 client-x\n";

TEST_F(LegacyDirTest, ReadsWhatNfsUtilsWrote) {
  fs::create_directories(dir_ + "/sm");
  fs::create_directories(dir_ + "/sm.bak");
  WriteFile(dir_ + "/sm/peerb", kNfsUtilsPeerb);
  WriteFile(dir_ + "/sm/localhost", kNfsUtilsLocalhost);
  WriteFile(dir_ + "/sm/.peerb.new", "garbage\n");  // nfs-utils' temporary file: skipped
  WriteFile(dir_ + "/sm.bak/198.18.2.2",
            std::string(kNfsUtilsLocalhost).replace(36 + 33, 9, "oldpeer.x"));
  const int32_t state = 41;
  WriteFile(dir_ + "/state", std::string(reinterpret_cast<const char*>(&state), 4));

  Result<LegacyDir> r = ReadLegacyDir(dir_);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->problems.empty()) << r->problems[0];
  EXPECT_EQ(r->data.state, 41u);
  ASSERT_EQ(r->data.monitors.size(), 4u);
  // Files in name order: localhost first.
  const store::Monitor& m0 = r->data.monitors[0];
  EXPECT_EQ(m0.key.mon_name, "127.0.0.1");
  EXPECT_EQ(m0.key.my_name, "client-x");
  EXPECT_EQ(m0.addresses, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(m0.caller, "127.0.0.1");
  EXPECT_GT(m0.added, 0);
  const store::Monitor& m2 = r->data.monitors[2];
  EXPECT_EQ(m2.key.mon_name, "peerb");
  EXPECT_EQ(m2.key.my_vers, 4u);
  EXPECT_TRUE(m2.addresses.empty());  // neither the name nor the file is an IP literal
  store::Priv ones;
  ones.fill(0xff);
  EXPECT_EQ(m2.priv, ones);
  ASSERT_EQ(r->data.notify.size(), 1u);
  EXPECT_EQ(r->data.notify[0].mon_name, "oldpeer.x");
  EXPECT_EQ(r->data.notify[0].my_name, "client-x");
  // The file name is an IP literal: it is the address sm-notify would contact.
  EXPECT_EQ(r->data.notify[0].addresses, std::vector<std::string>{"198.18.2.2"});
}

TEST_F(LegacyDirTest, ReportsProblemsAndMissingPieces) {
  EXPECT_EQ(ReadLegacyDir(dir_ + "/nope").status().code(), Code::kNotFound);
  EXPECT_EQ(ReadLegacyDir(dir_).status().code(), Code::kNotFound);  // nothing nfs-utils-like
  fs::create_directories(dir_ + "/sm");
  WriteFile(dir_ + "/sm/h", std::string(kNfsUtilsLocalhost) + "broken line\n\n");
  WriteFile(dir_ + "/state", "ab");
  Result<LegacyDir> r = ReadLegacyDir(dir_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data.monitors.size(), 1u);
  EXPECT_FALSE(r->data.state.has_value());
  ASSERT_EQ(r->problems.size(), 2u);
  EXPECT_EQ(r->problems[0], "sm/h line 2: too few fields (found 2, expected 7)");
  EXPECT_NE(r->problems[1].find("state: shorter than 4 bytes"), std::string::npos);
}

TEST_F(LegacyDirTest, WritesNfsUtilsFormatAndRoundTrips) {
  Dump d;
  d.state = 43;
  store::Monitor a;
  a.key = {"198.18.1.2", "nsm-a", 100021, 3, 16};
  a.priv = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  a.caller = "127.0.0.1";
  a.addresses = {"198.18.1.2"};
  store::Monitor b = a;
  b.key.my_name = "other";
  b.priv.fill(0x41);
  store::Monitor c;
  c.key = {"peerb", "nsm-a", 100021, 4, 16};
  c.priv.fill(0xff);
  c.caller = "::1";  // not IPv4: written as 127.0.0.1
  d.monitors = {a, c, b};
  store::NotifyEntry e;
  e.mon_name = "198.18.2.2";
  e.my_name = "nsm-a";
  e.addresses = {"198.18.2.2"};
  d.notify = {e};
  ASSERT_TRUE(WriteLegacyDir(dir_, d, {}).ok());

  EXPECT_EQ(
      ReadFile(dir_ + "/sm/198.18.1.2"),
      "0100007f 000186b5 00000003 00000010 000102030405060708090a0b0c0d0e0f 198.18.1.2 nsm-a\n"
      "0100007f 000186b5 00000003 00000010 41414141414141414141414141414141 198.18.1.2 other\n");
  EXPECT_EQ(ReadFile(dir_ + "/sm/peerb"),
            "0100007f 000186b5 00000004 00000010 ffffffffffffffffffffffffffffffff peerb nsm-a\n");
  EXPECT_EQ(
      ReadFile(dir_ + "/sm.bak/198.18.2.2"),
      "0100007f 000186b5 00000003 00000010 00000000000000000000000000000000 198.18.2.2 nsm-a\n");
  const std::string st = ReadFile(dir_ + "/state");
  ASSERT_EQ(st.size(), 4u);
  int32_t v;
  std::memcpy(&v, st.data(), 4);
  EXPECT_EQ(v, 43);
  struct stat sb {};
  ASSERT_EQ(stat((dir_ + "/sm/peerb").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir_ + "/sm").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0700u);
  EXPECT_FALSE(fs::exists(dir_ + "/sm/.peerb.new"));

  Result<LegacyDir> back = ReadLegacyDir(dir_);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->problems.empty());
  EXPECT_EQ(back->data.state, 43u);
  ASSERT_EQ(back->data.monitors.size(), 3u);
  for (const auto& m : d.monitors) {
    bool found = false;
    for (const auto& n : back->data.monitors) {
      if (n.key == m.key) {
        found = true;
        EXPECT_EQ(n.priv, m.priv);
      }
    }
    EXPECT_TRUE(found) << m.key.mon_name << " " << m.key.my_name;
  }
  ASSERT_EQ(back->data.notify.size(), 1u);
  EXPECT_EQ(back->data.notify[0].mon_name, "198.18.2.2");
  EXPECT_EQ(back->data.notify[0].addresses, e.addresses);
}

TEST_F(LegacyDirTest, RefusesToMixUnlessReplacing) {
  fs::create_directories(dir_ + "/sm");
  WriteFile(dir_ + "/sm/stale", kNfsUtilsLocalhost);
  Dump d;
  store::Monitor a;
  a.key = {"10.0.0.9", "me", 100021, 3, 16};
  d.monitors = {a};
  Status s = WriteLegacyDir(dir_, d, {});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_ + "/sm/10.0.0.9"));
  EXPECT_TRUE(fs::exists(dir_ + "/sm/stale"));

  LegacyWriteOptions o;
  o.replace = true;
  ASSERT_TRUE(WriteLegacyDir(dir_, d, o).ok());
  EXPECT_FALSE(fs::exists(dir_ + "/sm/stale"));
  EXPECT_TRUE(fs::exists(dir_ + "/sm/10.0.0.9"));
  EXPECT_FALSE(fs::exists(dir_ + "/state"));  // no state in the dump: not written
}

TEST_F(LegacyDirTest, OwnerFollowsSmDirectory) {
  if (geteuid() != 0) GTEST_SKIP() << "chown needs root";
  fs::create_directories(dir_ + "/sm");
  ASSERT_EQ(chown((dir_ + "/sm").c_str(), 4321, 4322), 0);
  Dump d;
  d.state = 5;
  store::Monitor a;
  a.key = {"10.0.0.9", "me", 100021, 3, 16};
  d.monitors = {a};
  d.notify = {store::NotifyEntry{"10.0.0.8", "me", {}, {}, 0, "", 0, 0}};
  ASSERT_TRUE(WriteLegacyDir(dir_, d, {}).ok());
  for (const std::string& p :
       std::vector<std::string>{"/sm/10.0.0.9", "/sm.bak", "/sm.bak/10.0.0.8", "/state"}) {
    struct stat sb {};
    ASSERT_EQ(stat((dir_ + p).c_str(), &sb), 0) << p;
    EXPECT_EQ(sb.st_uid, 4321u) << p;
    EXPECT_EQ(sb.st_gid, 4322u) << p;
  }
  LegacyWriteOptions o;
  o.replace = true;
  o.uid = 77;
  o.gid = 78;
  ASSERT_TRUE(WriteLegacyDir(dir_, d, o).ok());
  struct stat sb {};
  ASSERT_EQ(stat((dir_ + "/sm/10.0.0.9").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_uid, 77u);
}

}  // namespace
}  // namespace nsm::ctl
