// Loads the bundled configurations: examples/quickstart.yaml must be valid, and every file of
// examples/config-errors/ must fail with the error its first line announces
// ("# expect: KEY_PATH:LINE: TEXT").
#include "config/config.hpp"
#include "config_test_util.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace mf::config {
namespace {

const std::filesystem::path kExamples = std::filesystem::path(MAILFLOW_SOURCE_DIR) / "examples";

TEST(ConfigExamples, QuickstartIsValid) {
  auto r = load_file((kExamples / "quickstart.yaml").string());
  ASSERT_TRUE(r.ok()) << testing::dump(r);
  EXPECT_FALSE(r.snapshot->service.listeners.empty());
  EXPECT_FALSE(r.snapshot->organizations.empty());
}

TEST(ConfigExamples, EachBadConfigGivesItsAnnouncedError) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kExamples / "config-errors")) {
    if (entry.path().extension() != ".yaml") continue;
    ++files;
    std::ifstream in(entry.path());
    std::string first;
    std::getline(in, first);
    const std::string prefix = "# expect: ";
    ASSERT_EQ(first.rfind(prefix, 0), 0u) << entry.path() << " has no '# expect:' line";
    const std::string spec = first.substr(prefix.size());
    const auto c1 = spec.find(':');
    const auto c2 = spec.find(": ", c1 + 1);
    ASSERT_TRUE(c1 != std::string::npos && c2 != std::string::npos) << entry.path() << ": " << spec;
    const std::string key_path = spec.substr(0, c1);
    const int line = std::stoi(spec.substr(c1 + 1, c2 - c1 - 1));
    const std::string text = spec.substr(c2 + 2);

    auto r = load_file(entry.path().string());
    EXPECT_EQ(r.errors.size(), 1u) << entry.path() << "\n" << testing::dump(r);
    EXPECT_TRUE(testing::has_error(r, key_path, line, text)) << entry.path();
    for (const auto& e : r.errors) EXPECT_EQ(e.file, entry.path().string());
  }
  EXPECT_GE(files, 5);
}

}  // namespace
}  // namespace mf::config
