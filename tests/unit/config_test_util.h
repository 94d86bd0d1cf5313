// Helpers for the config unit tests: a temporary directory, files in it, argv
// vectors and scoped environment variables. Header-only, test code only.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

namespace nsm::config::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "nsm-config-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    if (p != nullptr) path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& text) const {
    std::string full = path_ + "/" + name;
    std::filesystem::create_directories(std::filesystem::path(full).parent_path());
    std::ofstream(full, std::ios::binary | std::ios::trunc) << text;
    return full;
  }
  std::string Mkdir(const std::string& name) const {
    std::string full = path_ + "/" + name;
    std::filesystem::create_directories(full);
    return full;
  }

 private:
  std::string path_;
};

// argv for a parser: Argv a{"rpc.statd", "-F"}; Parse(a.argc(), a.argv(), ...).
class Argv {
 public:
  Argv(std::initializer_list<std::string> args) : strings_(args) {
    for (std::string& s : strings_) ptrs_.push_back(s.data());
    ptrs_.push_back(nullptr);
  }
  Argv(const Argv&) = delete;  // ptrs_ point into strings_
  Argv& operator=(const Argv&) = delete;
  int argc() const { return static_cast<int>(strings_.size()); }
  char** argv() { return ptrs_.data(); }
  const std::vector<char*>& pointers() const { return ptrs_; }

 private:
  std::vector<std::string> strings_;
  std::vector<char*> ptrs_;
};

// Sets (or unsets, with nullopt) an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

}  // namespace nsm::config::testing
