// nfs-utils' on-disk record format (legacy/format.h): record files and single lines,
// the line nfs-utils writes (byte-exact), the priv and callback address fields, file
// names, the state file and its update rule. The directory readers and writers are
// tested in notify_legacy_test.cc (sm-notify) and ctl_legacy_test.cc (statdctl).
#include "legacy/format.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nsm::legacy {
namespace {

// The line of the reference (nsm-reference.md section 3), as nfs-utils writes it.
constexpr char kLine[] =
    "0100007f 000186b5 00000003 00000010 69300000000000000000000000000000 127.1.0.1 vm";

TEST(LegacyFormat, ParsesTheReferenceLine) {
  ParsedFile p = ParseRecords(std::string(kLine) + "\n");
  ASSERT_TRUE(p.errors.empty()) << p.errors[0];
  ASSERT_EQ(p.records.size(), 1u);
  const Record& r = p.records[0];
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

TEST(LegacyFormat, ParsesAndFormatsLikeNfsUtils) {
  const std::string ref = std::string(kLine) + "\n";
  Result<Record> l = ParseLine(ref);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(Ipv4FromCallbackAddr(l->callback_addr), "127.0.0.1");
  EXPECT_EQ(l->prog, 100021u);
  EXPECT_EQ(l->vers, 3u);
  EXPECT_EQ(l->proc, 16u);
  EXPECT_EQ(l->priv[0], 0x69);
  EXPECT_EQ(l->priv[1], 0x30);
  EXPECT_EQ(l->mon_name, "127.1.0.1");
  EXPECT_EQ(l->my_name, "vm");
  EXPECT_EQ(l->line, kLine);
  EXPECT_EQ(FormatLine(*l), ref);
  EXPECT_EQ(CallbackAddrFromIpv4("127.0.0.1"), l->callback_addr);
  EXPECT_EQ(CallbackAddrFromIpv4("::1"), l->callback_addr);  // not IPv4: loopback

  // Tolerated: CR, trailing blanks, tabs, short numbers (sscanf %8x accepts them).
  EXPECT_TRUE(ParseLine("100007f\t186b5 3 10 " + std::string(32, 'A') + " h me \r").ok());
  Result<Record> shorter = ParseLine("100007f\t186b5 3 10 " + std::string(32, 'A') + " h me \r\n");
  ASSERT_TRUE(shorter.ok());
  // Written back the way nfs-utils writes it: zero-padded, lower case, single spaces.
  EXPECT_EQ(FormatLine(*shorter),
            "0100007f 000186b5 00000003 00000010 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa h me\n");
}

TEST(LegacyFormat, SeveralLinesBlankLinesCrLfAndNoFinalNewline) {
  std::string text = std::string(kLine) + "\r\n\n   \n \t\r\n" +
                     "0100007f 000186b5 00000004 00000018 "
                     "00112233445566778899AABBCCDDEEFF client.example server.example";
  ParsedFile p = ParseRecords(text);
  ASSERT_TRUE(p.errors.empty()) << p.errors[0];
  ASSERT_EQ(p.records.size(), 2u);
  EXPECT_EQ(p.records[0].my_name, "vm");
  EXPECT_EQ(p.records[0].line, kLine);  // without the '\r'
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
      {"0100007f 000186b5 00000003", "too few fields (found 3, expected 7)"},
      {std::string(kLine) + " extra", "too many fields"},
      {"0100007g 000186b5 00000003 00000010 69300000000000000000000000000000 a b",
       "bad callback address"},
      {"123456789 000186b5 00000003 00000010 69300000000000000000000000000000 a b",
       "bad callback address"},
      {"0100007f 00018-b5 00000003 00000010 69300000000000000000000000000000 a b", "bad program"},
      {"0100007f 000186b5 0x000003 00000010 69300000000000000000000000000000 a b", "bad version"},
      {"0100007f 000186b5 00000003 -0000010 69300000000000000000000000000000 a b", "bad procedure"},
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
      // Only one '\r' right before the '\n' is part of the end of line.
      {"0100007f 000186b5 00000003 00000010 69300000000000000000000000000000 a b\r ",
       "invalid my_name"},
      {"0100007f 000186b5 00000003 00000010 69300000000000000000000000000000 a b\r\r",
       "invalid my_name"},
  };
  for (const Case& c : cases) {
    ParsedFile p = ParseRecords(good + c.line + "\n" + good);
    EXPECT_EQ(p.records.size(), 2u) << c.line;
    ASSERT_EQ(p.errors.size(), 1u) << c.line;
    EXPECT_NE(p.errors[0].find("line 2: " + c.why), std::string::npos) << p.errors[0];
    // The single-line parser gives the same reason.
    Result<Record> l = ParseLine(c.line);
    ASSERT_FALSE(l.ok()) << c.line;
    EXPECT_EQ(l.status().code(), Code::kInvalidArgument);
    EXPECT_EQ(p.errors[0], "line 2: " + l.status().message());
  }
  ParsedFile nul = ParseRecords(std::string(kLine, 20) + std::string(1, '\0') + "x\n");
  EXPECT_TRUE(nul.records.empty());
  EXPECT_EQ(nul.errors.size(), 1u);
}

TEST(LegacyFormat, RejectsMalformedLines) {
  const std::string priv(32, '0');
  for (const std::string& bad : std::vector<std::string>{
           "0100007f 000186b5 00000003 00000010 " + priv + " host",           // 6 fields
           "0100007f 000186b5 00000003 00000010 " + priv + " host me extra",  // 8 fields
           "0100007g 000186b5 00000003 00000010 " + priv + " host me",        // bad hex
           "100000000 000186b5 00000003 00000010 " + priv + " host me",       // 9 digits
           "0100007f 000186b5 00000003 00000010 " + priv.substr(1) + " host me",
           "0100007f 000186b5 00000003 00000010 " + priv + " ../etc me",  // '/'
           "0100007f 000186b5 00000003 00000010 " + priv + " .hidden me",
           "0100007f 000186b5 00000003 00000010 " + priv + " host \x01me",
           "0100007f 000186b5 00000003 00000010 " + priv + " host me\n\n",  // two lines
           "",
           " \t\r\n",
       }) {
    EXPECT_FALSE(ParseLine(bad).ok()) << bad;
  }
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
    ParsedFile p = ParseRecords(s);
    EXPECT_LE(p.records.size() + p.errors.size(), 4u);
    for (const Record& r : p.records) {
      EXPECT_TRUE(ValidFileName(r.mon_name)) << r.line;
      EXPECT_TRUE(ValidFileName(r.my_name)) << r.line;
      EXPECT_EQ(r.line.find('\n'), std::string::npos);
      Result<Record> again = ParseLine(FormatLine(r));
      ASSERT_TRUE(again.ok()) << r.line;
      EXPECT_EQ(again->mon_name, r.mon_name);
      EXPECT_EQ(again->priv, r.priv);
    }
  }
}

TEST(LegacyFormat, EmptyContentHasNoRecordsAndNoErrors) {
  EXPECT_TRUE(ParseRecords("").records.empty());
  EXPECT_TRUE(ParseRecords("\n\n").errors.empty());
}

TEST(LegacyFormat, PrivAndCallbackAddressFields) {
  store::Priv p{};
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<uint8_t>(0x11 * i);
  EXPECT_EQ(PrivToHex(p), "00112233445566778899aabbccddeeff");
  EXPECT_EQ(PrivFromHex("00112233445566778899AABBCCDDEEFF"), p);
  EXPECT_FALSE(PrivFromHex("00112233445566778899aabbccddeef").has_value());
  EXPECT_FALSE(PrivFromHex("00112233445566778899aabbccddeeff0").has_value());
  EXPECT_FALSE(PrivFromHex("0011223344556677 899aabbccddeeff").has_value());
  EXPECT_EQ(Ipv4FromCallbackAddr(CallbackAddrFromIpv4("198.18.1.2")), "198.18.1.2");
  EXPECT_EQ(Ipv4FromCallbackAddr(CallbackAddrFromIpv4("not an address")), "127.0.0.1");
}

TEST(LegacyFormat, FileNames) {
  EXPECT_TRUE(ValidFileName("client.example"));
  EXPECT_TRUE(ValidFileName("198.18.1.2"));
  EXPECT_TRUE(ValidFileName("fd00::2"));
  EXPECT_FALSE(ValidFileName(""));
  EXPECT_FALSE(ValidFileName(".client.new"));
  EXPECT_FALSE(ValidFileName("a/b"));
  EXPECT_FALSE(ValidFileName("a b"));
}

TEST(LegacyFormat, StateFileAndItsUpdateRule) {
  EXPECT_EQ(ParseState(EncodeState(17)), 17u);
  EXPECT_EQ(ParseState(EncodeState(17) + "junk"), 17u);
  EXPECT_FALSE(ParseState("abc").has_value());
  const int32_t raw = -3;  // nfs-utils writes an int: read back as its uint32_t bits
  EXPECT_EQ(ParseState(std::string(reinterpret_cast<const char*>(&raw), 4)), 0xfffffffdu);
  // nfs-utils: missing -> 1, always written, +2 -> 3.
  EXPECT_EQ(NextState(std::nullopt, false).state, 3u);
  EXPECT_TRUE(NextState(std::nullopt, false).write);
  EXPECT_EQ(NextState(5, true).state, 7u);
  EXPECT_TRUE(NextState(5, true).write);
  EXPECT_EQ(NextState(5, false).state, 5u);
  EXPECT_FALSE(NextState(5, false).write);
  EXPECT_EQ(NextState(6, false).state, 7u);  // even: down, becomes up
  EXPECT_EQ(NextState(6, true).state, 9u);
  EXPECT_EQ(NextState(0xffffffffu, true).state, 1u);  // wraps, stays odd
}

}  // namespace
}  // namespace nsm::legacy
