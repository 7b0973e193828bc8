// Golden transcripts for src/smtp/server_session.cpp: every tests/golden/smtp/<name>.in script is run
// through the harness and its transcript must equal <name>.expected byte for byte.
// MAILFLOW_GOLDEN_UPDATE=1 rewrites the .expected files (review the diff before committing).
#include "smtp/session_harness.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace mf::smtp {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Paths as strings: GoogleTest cannot print a std::filesystem::path parameter.
std::vector<std::string> scripts() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(MAILFLOW_SMTP_GOLDEN_DIR)) {
    if (e.path().extension() == ".in") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(GoldenFolder, HasTheRequiredTranscripts) {
  EXPECT_GE(scripts().size(), 30u);
}

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, Transcript) {
  const fs::path in = GetParam();
  auto transcript = test::run_script(slurp(in));
  ASSERT_TRUE(transcript) << transcript.error().message;
  fs::path expected = in;
  expected.replace_extension(".expected");
  if (std::getenv("MAILFLOW_GOLDEN_UPDATE") != nullptr) {
    std::ofstream(expected, std::ios::binary) << *transcript;
    return;
  }
  ASSERT_TRUE(fs::exists(expected)) << "missing " << expected;
  EXPECT_EQ(*transcript, slurp(expected));
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = fs::path(info.param).stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Smtp, Golden, ::testing::ValuesIn(scripts()), test_name);

}  // namespace
}  // namespace mf::smtp
