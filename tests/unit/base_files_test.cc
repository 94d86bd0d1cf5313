// Small-file mechanics: directory listing (sorted, dot files), bounded reads (size
// limit, non-regular files, symlinks, mtime), directory fsync and atomic writes (no
// temporary file left, stale temporary replaced, mode, owner).
#include "base/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "config_test_util.h"  // TempDir (header-only)

namespace nsm::files {
namespace {

namespace fs = std::filesystem;

class FilesTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.empty()); }
  void Write(const std::string& rel, const std::string& text) { tmp_.Write(rel, text); }
  std::string Read(const std::string& rel) {
    std::ifstream f(dir_ + "/" + rel, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), {});
  }
  config::testing::TempDir tmp_;
  const std::string dir_ = tmp_.path();
};

TEST_F(FilesTest, ListsNamesSortedWithoutDotFiles) {
  Write("b", "");
  Write("a", "");
  Write(".a.new", "");
  Write(".hidden", "");
  fs::create_directory(dir_ + "/c");  // listed: what a name is, is the caller's business
  Result<std::vector<std::string>> names = ListNames(dir_);
  ASSERT_TRUE(names.ok()) << names.status().ToString();
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "c"}));

  names = ListNames(dir_, DotFiles::kInclude);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{".a.new", ".hidden", "a", "b", "c"}));
}

TEST_F(FilesTest, TellsWhetherADirectoryListsAnyName) {
  fs::create_directory(dir_ + "/d");
  EXPECT_FALSE(HasNames(dir_ + "/d"));
  Write("d/.hidden", "");
  EXPECT_FALSE(HasNames(dir_ + "/d"));
  EXPECT_TRUE(HasNames(dir_ + "/d", DotFiles::kInclude));
  Write("d/a", "");
  EXPECT_TRUE(HasNames(dir_ + "/d"));
  EXPECT_FALSE(HasNames(dir_ + "/missing"));
  EXPECT_FALSE(HasNames(dir_ + "/d/a"));  // not a directory
}

TEST_F(FilesTest, ListingAMissingOrNonDirectoryFails) {
  EXPECT_EQ(ListNames(dir_ + "/nope").status().code(), Code::kNotFound);
  Write("file", "x");
  Result<std::vector<std::string>> names = ListNames(dir_ + "/file");
  ASSERT_FALSE(names.ok());
  EXPECT_EQ(names.status().code(), Code::kIoError);
  EXPECT_NE(names.status().message().find(dir_ + "/file"), std::string::npos);
  fs::create_directory(dir_ + "/empty");
  names = ListNames(dir_ + "/empty");
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty());
}

TEST_F(FilesTest, ReadsUpToTheSizeLimit) {
  Write("f", "12345");
  Result<std::string> data = ReadSmallFile(dir_ + "/f", 5);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(*data, "12345");
  data = ReadSmallFile(dir_ + "/f", 4);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(data.status().message(), dir_ + "/f: larger than 4 bytes");
  Write("empty", "");
  data = ReadSmallFile(dir_ + "/empty", 0);
  ASSERT_TRUE(data.ok());
  EXPECT_TRUE(data->empty());
}

TEST_F(FilesTest, ReadRefusesNonRegularFilesAndSymlinks) {
  fs::create_directory(dir_ + "/d");
  Result<std::string> data = ReadSmallFile(dir_ + "/d", 100);
  EXPECT_EQ(data.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(data.status().message(), dir_ + "/d: not a regular file");

  ASSERT_EQ(mkfifo((dir_ + "/fifo").c_str(), 0600), 0);
  data = ReadSmallFile(dir_ + "/fifo", 100);  // must not block on open
  EXPECT_EQ(data.status().code(), Code::kInvalidArgument);

  Write("target", "secret");
  fs::create_symlink(dir_ + "/target", dir_ + "/link");
  data = ReadSmallFile(dir_ + "/link", 100);
  ASSERT_FALSE(data.ok());
  EXPECT_EQ(data.status().code(), Code::kIoError);  // ELOOP

  EXPECT_EQ(ReadSmallFile(dir_ + "/nope", 100).status().code(), Code::kNotFound);
}

TEST_F(FilesTest, ReadsFilesOfEverySizeAroundTheReadBuffer) {
  // The first read asks for the size plus one byte; files near and past the 8 KiB read
  // buffer take the loop.
  for (size_t n : {size_t{1}, size_t{8190}, size_t{8191}, size_t{8192}, size_t{20000}}) {
    std::string text(n, 'x');
    text.back() = 'y';
    Write("f", text);
    Result<std::string> data = ReadSmallFile(dir_ + "/f", 20000);
    ASSERT_TRUE(data.ok()) << n << ": " << data.status().ToString();
    EXPECT_EQ(*data, text) << n;
  }
  Write("f", std::string(20001, 'x'));
  EXPECT_EQ(ReadSmallFile(dir_ + "/f", 20000).status().code(), Code::kInvalidArgument);
}

TEST_F(FilesTest, ReadsInAnOpenDirectory) {
  Write("f", "abc");
  Write("target", "secret");
  fs::create_symlink(dir_ + "/target", dir_ + "/link");
  const int dfd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dfd, 0);
  int64_t mtime = 0;
  Result<std::string> data = ReadSmallFileAt(dfd, dir_, "f", 3, &mtime);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(*data, "abc");
  EXPECT_GT(mtime, 0);
  data = ReadSmallFileAt(dfd, dir_, "f", 2);
  EXPECT_EQ(data.status().message(), dir_ + "/f: larger than 2 bytes");
  EXPECT_EQ(ReadSmallFileAt(dfd, dir_, "link", 100).status().code(), Code::kIoError);  // ELOOP
  data = ReadSmallFileAt(dfd, dir_, "nope", 100);
  EXPECT_EQ(data.status().code(), Code::kNotFound);
  EXPECT_NE(data.status().message().find(dir_ + "/nope"), std::string::npos);
  close(dfd);
}

TEST_F(FilesTest, ReturnsTheModificationTime) {
  Write("f", "x");
  const struct timeval times[2] = {{1000000000, 0}, {1234567890, 0}};
  ASSERT_EQ(utimes((dir_ + "/f").c_str(), times), 0);
  int64_t mtime = 0;
  Result<std::string> data = ReadSmallFile(dir_ + "/f", 10, &mtime);
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(mtime, 1234567890);
}

TEST_F(FilesTest, AtomicWriteReplacesAndLeavesNoTemporaryFile) {
  Write("f", "old content");
  ASSERT_TRUE(AtomicWrite(dir_, "f", "new").ok());
  EXPECT_EQ(Read("f"), "new");
  ASSERT_TRUE(AtomicWrite(dir_, "g", "", {.sync_dir = true}).ok());
  EXPECT_TRUE(fs::exists(dir_ + "/g"));
  EXPECT_EQ(Read("g"), "");
  Result<std::vector<std::string>> names = ListNames(dir_, DotFiles::kInclude);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"f", "g"}));
}

TEST_F(FilesTest, AtomicWriteReplacesAStaleTemporaryFileAndNeverFollowsASymlink) {
  Write(".f.new", "left by a crash");
  ASSERT_EQ(chmod((dir_ + "/.f.new").c_str(), 0666), 0);
  ASSERT_TRUE(AtomicWrite(dir_, "f", "data", {.mode = 0600}).ok());
  EXPECT_EQ(Read("f"), "data");
  EXPECT_FALSE(fs::exists(dir_ + "/.f.new"));
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0077, 0u);  // a fresh file, not the stale one's mode

  Write("outside", "untouched");
  fs::create_symlink(dir_ + "/outside", dir_ + "/.g.new");
  ASSERT_TRUE(AtomicWrite(dir_, "g", "data").ok());
  EXPECT_EQ(Read("outside"), "untouched");
  EXPECT_EQ(Read("g"), "data");
}

TEST_F(FilesTest, AtomicWriteSetsTheExactModeOnRequest) {
  const mode_t old_umask = umask(077);
  Status narrowed = AtomicWrite(dir_, "narrowed", "x", {.mode = 0644});
  Status exact = AtomicWrite(dir_, "exact", "x", {.mode = 0644, .exact_mode = true});
  umask(old_umask);
  ASSERT_TRUE(narrowed.ok()) << narrowed.ToString();
  ASSERT_TRUE(exact.ok()) << exact.ToString();
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/narrowed").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((dir_ + "/exact").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
}

TEST_F(FilesTest, AtomicWriteSetsTheOwner) {
  if (geteuid() != 0) GTEST_SKIP() << "chown needs root";
  ASSERT_TRUE(AtomicWrite(dir_, "f", "x", {.owner = Owner{4321, 4322}}).ok());
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/f").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 4321u);
  EXPECT_EQ(st.st_gid, 4322u);
}

TEST_F(FilesTest, AtomicWriteFailureLeavesTheTargetAlone) {
  // A directory in the way of the rename: the temporary file is removed again.
  fs::create_directories(dir_ + "/f/sub");
  Status s = AtomicWrite(dir_, "f", "x");
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(fs::is_directory(dir_ + "/f"));
  EXPECT_FALSE(fs::exists(dir_ + "/.f.new"));
  EXPECT_EQ(AtomicWrite(dir_ + "/nope", "f", "x").code(), Code::kNotFound);
}

TEST_F(FilesTest, FsyncsADirectory) {
  EXPECT_TRUE(FsyncDir(dir_).ok());
  EXPECT_EQ(FsyncDir(dir_ + "/nope").code(), Code::kNotFound);
  Write("file", "");
  EXPECT_FALSE(FsyncDir(dir_ + "/file").ok());
}

}  // namespace
}  // namespace nsm::files
