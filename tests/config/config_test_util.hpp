// Helpers shared by the config tests: a temporary folder and error look-up.
#pragma once

#include "config/config.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace mf::config::testing {

// A fresh folder under $TMPDIR, removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mailflow-config-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& rel) const { return (path_ / rel).string(); }
  // Writes `text` to `rel` (creating folders) and returns the absolute path.
  std::string write(const std::string& rel, const std::string& text) const {
    auto p = path_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

 private:
  std::filesystem::path path_;
};

inline std::string dump(const LoadResult& r) {
  std::string s;
  for (const auto& e : r.errors) s += "  " + e.str() + "\n";
  return s.empty() ? "  (no errors)\n" : s;
}

// The error with this key path, or nullptr.
inline const ConfigError* find_error(const LoadResult& r, const std::string& key_path) {
  for (const auto& e : r.errors)
    if (e.key_path == key_path) return &e;
  return nullptr;
}

// Asserts that loading failed with an error at `key_path`, `line`, whose message contains `text`.
inline ::testing::AssertionResult has_error(const LoadResult& r, const std::string& key_path, int line,
                                            const std::string& text) {
  if (r.ok()) return ::testing::AssertionFailure() << "loaded without errors, expected " << key_path;
  for (const auto& e : r.errors) {
    if (e.key_path == key_path && e.line == line && e.message.find(text) != std::string::npos)
      return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "no error at " << key_path << " line " << line << " containing \"" << text
                                       << "\"; got:\n"
                                       << dump(r);
}

// One row of a validation table: a document, and the error it must produce.
struct ErrorCase {
  enum Prefix {
    none,     // `yaml` is the whole document
    service,  // kService (3 lines) + yaml: yaml starts on line 4, inside `service:`
    orgs,     // kOrgs (4 lines) + yaml: yaml starts on line 5, inside `organizations:`
  };
  const char* name;  // test name suffix (letters, digits, underscores)
  Prefix prefix;
  const char* yaml;
  const char* key_path;
  int line;
  const char* message;  // a part of the expected message
};

inline constexpr const char* kService =
    "service:\n"
    "  hostname: mx.test.example\n"
    "  listeners: [{name: mx, address: \"127.0.0.1:2525\"}]\n";
inline constexpr const char* kOrgs =
    "service:\n"
    "  hostname: mx.test.example\n"
    "  listeners: [{name: mx, address: \"127.0.0.1:2525\"}]\n"
    "organizations:\n";

inline std::string document(const ErrorCase& c) {
  switch (c.prefix) {
    case ErrorCase::service:
      return std::string(kService) + c.yaml;
    case ErrorCase::orgs:
      return std::string(kOrgs) + c.yaml;
    case ErrorCase::none:
      break;
  }
  return c.yaml;
}

class ValidationTable : public ::testing::TestWithParam<ErrorCase> {
 protected:
  void check() const {
    const ErrorCase& c = GetParam();
    auto r = load_string(document(c), "/tmp/mailflow-validation.yaml");
    EXPECT_EQ(r.snapshot, nullptr);
    EXPECT_TRUE(has_error(r, c.key_path, c.line, c.message));
    for (const auto& e : r.errors) EXPECT_EQ(e.file, "/tmp/mailflow-validation.yaml");
  }
};

inline void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.name; }

inline std::string case_name(const ::testing::TestParamInfo<ErrorCase>& info) { return info.param.name; }

}  // namespace mf::config::testing
