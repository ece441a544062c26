// A scratch directory for config tests that need real files (includes,
// auth_file), removed with everything in it when the object goes away; and
// a fixture that loads a pgbouncer.ini written there.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "config/config.h"

namespace usher::config::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "usher-config-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }

  // Writes `contents` to path()/name (creating subdirectories) and returns
  // the full path.
  std::string write(const std::string& name, std::string_view contents) const {
    const std::filesystem::path full = std::filesystem::path(path_) / name;
    std::filesystem::create_directories(full.parent_path());
    std::ofstream out(full, std::ios::binary);
    out << contents;
    return full.string();
  }

 private:
  std::string path_;
};

// Writes pgbouncer.ini into a temp dir and loads it.
class ConfigFileTest : public ::testing::Test {
 protected:
  Result<LoadResult> load(std::string_view text) {
    dir_.write("pgbouncer.ini", text);
    return load_config(path_);
  }

  LoadResult load_ok(std::string_view text) {
    auto r = load(text);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message);
    return r.ok() ? std::move(r).value() : LoadResult{};
  }

  std::string load_error(std::string_view text) {
    auto r = load(text);
    EXPECT_FALSE(r.ok()) << text;
    return r.ok() ? "" : r.error().message;
  }

  TempDir dir_;
  const std::string path_ = dir_.path() + "/pgbouncer.ini";
};

}  // namespace usher::config::testing
