// NfsConf: the nfs-utils conffile format, line by line, includes, drop-ins, bounds.
// Expected results were checked against nfs-utils 2.6.2's rpc.statd where the two
// agree (see docs/config.md for the places where nsm deliberately differs).
#include "config/nfs_conf.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "config_test_util.h"

namespace nsm::config {
namespace {

using testing::ScopedEnv;
using testing::TempDir;

NfsConf MustParse(std::string_view text) {
  Result<NfsConf> c = NfsConf::Parse(text, "/test/nfs.conf");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? *c : NfsConf();
}

std::string Joined(const NfsConf& c) {
  std::string out;
  for (const std::string& w : c.warnings()) out += w + "\n";
  return out;
}

bool HasWarning(const NfsConf& c, std::string_view needle) {
  for (const std::string& w : c.warnings()) {
    if (w.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(NfsConf, SectionsAndKeysAreCaseInsensitive) {
  NfsConf c = MustParse("[STATD]\nPort = 662\n[Lockd]\nudp-PORT=4001\n");
  EXPECT_EQ(c.Get("statd", "port"), "662");
  EXPECT_EQ(c.Get("Statd", "PORT"), "662");
  EXPECT_EQ(c.Get("lockd", "udp-port"), "4001");
  EXPECT_EQ(c.Get("lockd", "port"), std::nullopt);
  EXPECT_EQ(c.Get("nfsd", "port"), std::nullopt);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_TRUE(c.warnings().empty());
}

TEST(NfsConf, BlanksCommentsAndBlankLines) {
  NfsConf c = MustParse(
      "# comment\n"
      "   ; indented comment\n"
      "\n"
      "  [ statd ]  trailing text is ignored\n"
      "\t  name   =\t  host.example  \n"
      "  port = 662 # a comment\n"
      "  outgoing-port = 2020;another\n"
      "  ha-callout = /bin/call#out\n"
      "  spaced key = x\n");
  EXPECT_EQ(c.Get("statd", "name"), "host.example");
  EXPECT_EQ(c.Get("statd", "port"), "662");
  EXPECT_EQ(c.Get("statd", "outgoing-port"), "2020");
  EXPECT_EQ(c.Get("statd", "ha-callout"), "/bin/call");  // '#' anywhere starts a comment
  EXPECT_EQ(c.Get("statd", "spaced key"), "x");
  EXPECT_TRUE(c.warnings().empty());
}

TEST(NfsConf, QuotedValues) {
  NfsConf c = MustParse(
      "[s]\n"
      "a = \"  spaced # not a comment ; \" ignored after\n"
      "b = 'single'\n"
      "c = \"\"\n"
      "d = \"unterminated\n"
      "e = 'also\n");
  EXPECT_EQ(c.Get("s", "a"), "  spaced # not a comment ; ");
  EXPECT_EQ(c.Get("s", "b"), "single");
  EXPECT_EQ(c.Get("s", "c"), std::nullopt);  // empty: ignored
  EXPECT_EQ(c.Get("s", "d"), std::nullopt);
  EXPECT_EQ(c.Get("s", "e"), std::nullopt);
  EXPECT_TRUE(HasWarning(c, "/test/nfs.conf:5: unmatched quotes"));
  EXPECT_TRUE(HasWarning(c, "/test/nfs.conf:6: unmatched quotes"));
}

TEST(NfsConf, LaterSettingWinsAndEmptyValueDoesNotClear) {
  NfsConf c = MustParse("[statd]\nport=1\nport=2\n[lockd]\nport=9\n[statd]\nport=3\nport=\n");
  EXPECT_EQ(c.Get("statd", "port"), "3");
  EXPECT_EQ(c.Get("lockd", "port"), "9");
  EXPECT_EQ(c.Where("statd", "port"), "/test/nfs.conf:7");
  EXPECT_EQ(c.Where("statd", "nothing"), "");
}

TEST(NfsConf, Subsections) {
  NfsConf c = MustParse(
      "[statd]\nport = 1\n"
      "[statd \"Node-A\"]\nport = 2\n"
      "[ statd   \"b\" ]\nport = 3\n");
  EXPECT_EQ(c.Get("statd", "port"), "1");  // a subsection never hides the plain key
  EXPECT_EQ(c.Get("statd", "node-a", "port"), "2");
  EXPECT_EQ(c.Get("STATD", "NODE-A", "PORT"), "2");
  EXPECT_EQ(c.Get("statd", "b", "port"), "3");
  EXPECT_EQ(c.Get("statd", "c", "port"), std::nullopt);
  NfsConf only_sub = MustParse("[statd \"x\"]\nport = 5\n");
  EXPECT_EQ(only_sub.Get("statd", "port"), std::nullopt);
}

TEST(NfsConf, BadSectionHeaders) {
  NfsConf c = MustParse(
      "[statd\n"
      "port = 1\n"        // ignored: no section
      "[lockd \"open]\n"  // unmatched quote: nfs-utils keeps [lockd]
      "port = 2\n"
      "[]\n"  // empty name is a section named ""
      "x = 3\n");
  EXPECT_EQ(c.Get("statd", "port"), std::nullopt);
  EXPECT_EQ(c.Get("lockd", "port"), "2");
  EXPECT_EQ(c.Get("", "x"), "3");
  EXPECT_TRUE(HasWarning(c, ":1: non-matched ']'"));
  EXPECT_TRUE(HasWarning(c, ":2: ignoring line not in a section"));
  EXPECT_TRUE(HasWarning(c, ":3: non-matched '\"'"));
}

TEST(NfsConf, MalformedLinesAreSkippedWithWarnings) {
  NfsConf c = MustParse(
      "port = 1\n"  // before any section
      "[statd]\n"
      "garbage line\n"  // no '='
      " = 5\n"          // no tag
      "port = 662\n");
  EXPECT_EQ(c.Get("statd", "port"), "662");
  EXPECT_EQ(c.size(), 1u);
  ASSERT_EQ(c.warnings().size(), 3u);
  EXPECT_TRUE(HasWarning(c, "/test/nfs.conf:1: ignoring line not in a section"));
  EXPECT_TRUE(HasWarning(c, "/test/nfs.conf:3: line not empty and not an assignment"));
  EXPECT_TRUE(HasWarning(c, "/test/nfs.conf:4: missing tag"));
}

TEST(NfsConf, BackslashNewlineJoinsLines) {
  NfsConf c = MustParse("[statd]\nname = \\\nhost\nkey\\\n2 = v\nafter = 1\n");
  EXPECT_EQ(c.Get("statd", "name"), "host");
  EXPECT_EQ(c.Get("statd", "key  2"), "v");  // both characters become spaces
  EXPECT_EQ(c.Where("statd", "after"), "/test/nfs.conf:6");
}

TEST(NfsConf, LastLineWithoutNewlineIsIgnoredAsNfsUtilsDoes) {
  NfsConf c = MustParse("[statd]\nport = 1\nname = last");
  EXPECT_EQ(c.Get("statd", "port"), "1");
  EXPECT_EQ(c.Get("statd", "name"), std::nullopt);
  EXPECT_TRUE(HasWarning(c, ":3: last line has no newline"));
}

TEST(NfsConf, CarriageReturnsAreBlanks) {
  NfsConf c = MustParse("[statd]\r\nport = 662\r\n");
  EXPECT_EQ(c.Get("statd", "port"), "662");
}

TEST(NfsConf, LineLengthBound) {
  std::string ok_line = "[s]\nk = " + std::string(NfsConf::kMaxLineLength - 4, 'v') + "\n";
  NfsConf c = MustParse(ok_line);
  EXPECT_EQ(c.Get("s", "k")->size(), NfsConf::kMaxLineLength - 4);

  std::string long_line = "[s]\n\nk = " + std::string(NfsConf::kMaxLineLength, 'v') + "\n";
  Result<NfsConf> bad = NfsConf::Parse(long_line, "/x.conf");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("/x.conf:3: line longer than 4096"), std::string::npos)
      << bad.status().message();
}

TEST(NfsConf, NulByteIsAnError) {
  std::string text = "[s]\nk = a";
  text.push_back('\0');
  text += "b\n";
  Result<NfsConf> c = NfsConf::Parse(text, "/x.conf");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("/x.conf:2: NUL"), std::string::npos);
}

TEST(NfsConf, DollarExpansion) {
  ScopedEnv a("NSM_TEST_CONF_A", "from-env");
  ScopedEnv b("NSM_TEST_CONF_B", "");
  ScopedEnv c_unset("NSM_TEST_CONF_C", std::nullopt);
  NfsConf c = MustParse(
      "[environment]\n"
      "NSM_TEST_CONF_A = from-section\n"
      "NSM_TEST_CONF_B = b-from-section\n"
      "LOOP1 = $LOOP2\n"
      "LOOP2 = $LOOP1\n"
      "CHAIN = $NSM_TEST_CONF_B\n"
      "[statd]\n"
      "a = $NSM_TEST_CONF_A\n"
      "b = $NSM_TEST_CONF_B\n"
      "c = $NSM_TEST_CONF_C\n"
      "loop = $LOOP1\n"
      "chain = $CHAIN\n"
      "dollar = $\n");
  EXPECT_EQ(c.Get("statd", "a"), "from-env");        // environment first
  EXPECT_EQ(c.Get("statd", "b"), "b-from-section");  // empty env: [environment]
  EXPECT_EQ(c.Get("statd", "c"), std::nullopt);      // neither: unset
  EXPECT_EQ(c.Get("statd", "loop"), std::nullopt);   // nfs-utils loops forever here
  EXPECT_EQ(c.Get("statd", "chain"), "b-from-section");
  EXPECT_EQ(c.Get("statd", "dollar"), std::nullopt);
}

TEST(NfsConf, GetInt) {
  NfsConf c = MustParse(
      "[n]\na = 42\nb = -7\nc = +3\nd = 12abc\ne = abc\nf = 99999999999999999999\n"
      "g = 0x10\nh = 9223372036854775807\ni = -9223372036854775808\n");
  EXPECT_EQ(*c.GetInt("n", "a"), std::optional<int64_t>(42));
  EXPECT_EQ(*c.GetInt("n", "b"), std::optional<int64_t>(-7));
  EXPECT_EQ(*c.GetInt("n", "c"), std::optional<int64_t>(3));
  EXPECT_EQ(*c.GetInt("n", "h"), std::optional<int64_t>(INT64_MAX));
  EXPECT_EQ(*c.GetInt("n", "i"), std::optional<int64_t>(INT64_MIN));
  EXPECT_EQ(*c.GetInt("n", "unset"), std::nullopt);
  for (const char* key : {"d", "e", "f", "g"}) {
    Result<std::optional<int64_t>> r = c.GetInt("n", key);
    ASSERT_FALSE(r.ok()) << key;
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find("/test/nfs.conf:"), std::string::npos);
    EXPECT_NE(r.status().message().find("is not an integer"), std::string::npos);
  }
}

TEST(NfsConf, GetBool) {
  NfsConf c = MustParse(
      "[b]\nt1=1\nt2=y\nt3=YES\nt4=t\nt5=True\nt6=on\n"
      "f1=0\nf2=n\nf3=No\nf4=f\nf5=FALSE\nf6=off\nbad=maybe\n");
  for (const char* k : {"t1", "t2", "t3", "t4", "t5", "t6"}) {
    EXPECT_EQ(*c.GetBool("b", k), std::optional<bool>(true)) << k;
  }
  for (const char* k : {"f1", "f2", "f3", "f4", "f5", "f6"}) {
    EXPECT_EQ(*c.GetBool("b", k), std::optional<bool>(false)) << k;
  }
  EXPECT_EQ(*c.GetBool("b", "unset"), std::nullopt);
  Result<std::optional<bool>> bad = c.GetBool("b", "bad");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(":14:"), std::string::npos) << bad.status().message();
}

TEST(NfsConfLoad, MissingMainFileIsEmpty) {
  TempDir t;
  Result<NfsConf> c = NfsConf::Load(t.path() + "/absent.conf");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->size(), 0u);
  EXPECT_TRUE(c->files().empty());
}

TEST(NfsConfLoad, UnreadableMainFileIsAnError) {
  TempDir t;
  t.Mkdir("dir.conf");
  Result<NfsConf> is_dir = NfsConf::Load(t.path() + "/dir.conf");
  ASSERT_FALSE(is_dir.ok());
  EXPECT_NE(is_dir.status().message().find("dir.conf"), std::string::npos);

  std::string file = t.Write("plain", "x");
  Result<NfsConf> not_dir = NfsConf::Load(file + "/nfs.conf");  // ENOTDIR
  EXPECT_FALSE(not_dir.ok());

  if (geteuid() != 0) {  // root reads anything; the two cases above cover it then
    std::string locked = t.Write("locked.conf", "[statd]\nport=1\n");
    chmod(locked.c_str(), 0);
    Result<NfsConf> denied = NfsConf::Load(locked);
    ASSERT_FALSE(denied.ok());
    EXPECT_EQ(denied.status().code(), Code::kPermission);
  }
}

TEST(NfsConfLoad, ReadsFileAndTooLargeFileIsAnError) {
  TempDir t;
  std::string path = t.Write("nfs.conf", "[statd]\nport = 662\n");
  Result<NfsConf> c = NfsConf::Load(path);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->Get("statd", "port"), "662");
  EXPECT_EQ(c->Where("statd", "port"), path + ":2");
  ASSERT_EQ(c->files().size(), 1u);

  std::string big(NfsConf::kMaxFileSize + 1, '#');
  Result<NfsConf> too_big = NfsConf::Load(t.Write("big.conf", big));
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("larger than"), std::string::npos);
}

TEST(NfsConfLoad, IncludesAreRelativeAndInheritTheSection) {
  TempDir t;
  t.Write("sub/inc.conf", "port = 662\n[lockd]\nport = 4045\n");
  t.Write("sub/nested.conf", "[nested]\nk = v\n");
  t.Write("sub/chain.conf", "include = nested.conf\n");  // relative to sub/
  std::string main = t.Write("nfs.conf",
                             "[statd]\n"
                             "include = sub/inc.conf\n"
                             "name = after-include\n"  // still [statd]: no leak back
                             "include = -sub/absent.conf\n"
                             "include = sub/absent2.conf\n"
                             "include = " +
                                 t.path() + "/sub/chain.conf\n");
  Result<NfsConf> c = NfsConf::Load(main);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->Get("statd", "port"), "662");
  EXPECT_EQ(c->Get("lockd", "port"), "4045");
  EXPECT_EQ(c->Get("statd", "name"), "after-include");
  EXPECT_EQ(c->Get("nested", "k"), "v");
  ASSERT_EQ(c->warnings().size(), 1u) << Joined(*c);
  EXPECT_NE(c->warnings()[0].find("nfs.conf:5: error loading included config"), std::string::npos);
  EXPECT_EQ(c->files().size(), 4u);
}

TEST(NfsConfLoad, IncludeOutsideASectionIsIgnoredAsNfsUtilsDoes) {
  TempDir t;
  t.Write("inc.conf", "[statd]\nport = 1\n");
  Result<NfsConf> c = NfsConf::Load(t.Write("nfs.conf", "include = inc.conf\n"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->Get("statd", "port"), std::nullopt);
  EXPECT_EQ(c->warnings().size(), 1u);
}

TEST(NfsConfLoad, IncludeLoopIsAnError) {
  TempDir t;
  std::string self = t.Write("self.conf", "[statd]\ninclude = self.conf\n");
  Result<NfsConf> c = NfsConf::Load(self);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
  EXPECT_NE(c.status().message().find("nested deeper than 10"), std::string::npos);

  // Exactly kMaxIncludeDepth levels are fine.
  TempDir u;
  for (int i = 0; i < NfsConf::kMaxIncludeDepth; ++i) {
    u.Write("l" + std::to_string(i) + ".conf",
            "[s]\ninclude = l" + std::to_string(i + 1) + ".conf\n");
  }
  u.Write("l" + std::to_string(NfsConf::kMaxIncludeDepth) + ".conf", "[s]\ndeep = yes\n");
  Result<NfsConf> deep = NfsConf::Load(u.path() + "/l0.conf");
  ASSERT_TRUE(deep.ok()) << deep.status().ToString();
  EXPECT_EQ(deep->Get("s", "deep"), "yes");
}

TEST(NfsConfLoad, UnreadableIncludeIsAnError) {
  TempDir t;
  t.Mkdir("adir");
  Result<NfsConf> c = NfsConf::Load(t.Write("nfs.conf", "[s]\ninclude = adir\n"));
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("nfs.conf:2: include:"), std::string::npos)
      << c.status().message();
}

TEST(NfsConfLoad, DropInsOverrideInVersionOrder) {
  TempDir t;
  std::string main = t.Write("nfs.conf", "[statd]\nport = 1\nname = main\n");
  t.Write("nfs.conf.d/10-b.conf", "[statd]\nport = 10\n");
  t.Write("nfs.conf.d/9-a.conf", "[statd]\nport = 9\nha-callout = /bin/nine\n");
  t.Write("nfs.conf.d/.hidden.conf", "[statd]\nport = 666\n");
  t.Write("nfs.conf.d/notes.txt", "[statd]\nport = 667\n");
  t.Write("nfs.conf.d/.conf", "[statd]\nport = 668\n");
  t.Mkdir("nfs.conf.d/dir.conf");
  t.Write("nfs.conf.d/zz-nosection.conf", "port = 669\n");  // no section carried over
  Result<NfsConf> c = NfsConf::Load(main);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->Get("statd", "port"), "10");  // 9-a before 10-b (version sort)
  EXPECT_EQ(c->Get("statd", "name"), "main");
  EXPECT_EQ(c->Get("statd", "ha-callout"), "/bin/nine");
  ASSERT_EQ(c->files().size(), 4u);
  EXPECT_EQ(c->files()[1], t.path() + "/nfs.conf.d/9-a.conf");
  EXPECT_EQ(c->files()[2], t.path() + "/nfs.conf.d/10-b.conf");
  EXPECT_TRUE(HasWarning(*c, "zz-nosection.conf:1: ignoring line not in a section"));
}

TEST(NfsConfLoad, DropInsWithoutMainFile) {
  TempDir t;
  t.Write("nfs.conf.d/local.conf", "[statd]\nport = 7\n");
  Result<NfsConf> c = NfsConf::Load(t.path() + "/nfs.conf");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->Get("statd", "port"), "7");
}

TEST(NfsConfLoad, DanglingDropInLinkIsSkipped) {
  TempDir t;
  t.Mkdir("nfs.conf.d");
  ASSERT_EQ(symlink("/nonexistent/x.conf", (t.path() + "/nfs.conf.d/a.conf").c_str()), 0);
  t.Write("nfs.conf.d/b.conf", "[statd]\nport = 8\n");
  Result<NfsConf> c = NfsConf::Load(t.path() + "/nfs.conf");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->Get("statd", "port"), "8");
}

TEST(NfsConfLoad, SymlinkedFilesAreReadAndADirectoryIsAnError) {
  // /etc/nfs.conf is often a link into a configuration-management tree.
  TempDir t;
  t.Write("real.conf", "[statd]\nport = 9\n");
  ASSERT_EQ(symlink((t.path() + "/real.conf").c_str(), (t.path() + "/nfs.conf").c_str()), 0);
  Result<NfsConf> c = NfsConf::Load(t.path() + "/nfs.conf");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->Get("statd", "port"), "9");

  t.Mkdir("dir.conf");
  Result<NfsConf> d = NfsConf::Load(t.path() + "/dir.conf");
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("dir.conf"), std::string::npos) << d.status().ToString();
}

TEST(ParseConfBool, Words) {
  EXPECT_EQ(ParseConfBool("ON"), true);
  EXPECT_EQ(ParseConfBool("Off"), false);
  EXPECT_EQ(ParseConfBool(""), std::nullopt);
  EXPECT_EQ(ParseConfBool("2"), std::nullopt);
  EXPECT_EQ(ParseConfBool("yess"), std::nullopt);
}

}  // namespace
}  // namespace nsm::config
