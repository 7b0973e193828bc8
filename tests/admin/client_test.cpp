// Tests of admin/client.hpp: address parsing, target resolution from overrides and configuration,
// exit codes, and "unreachable" as distinct from HTTP errors.
#include "admin/client.hpp"

#include "support/temp_dir.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include <fstream>

namespace mf::admin {
namespace {

constexpr const char* kToken = "0123456789abcdef0123456789abcdef";

std::string write(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
  return p.string();
}

std::string config_with(const std::string& admin_section) {
  return "service:\n"
         "  hostname: mx.test.example\n"
         "  listeners: [{name: mx, address: \"127.0.0.1:2525\"}]\n" +
         admin_section +
         "organizations:\n"
         "  - name: test\n"
         "    accepted_domains: [{domain: test.example, type: authoritative}]\n"
         "    recipients: [{type: mailbox, address: a@test.example}]\n";
}

TEST(ParseAdminAddress, Forms) {
  auto v4 = parse_admin_address("127.0.0.1:8025");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->host, "127.0.0.1");
  EXPECT_EQ(v4->port, 8025);
  auto v6 = parse_admin_address("[::1]:9");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9);
  auto name = parse_admin_address("localhost:80");
  ASSERT_TRUE(name);
  EXPECT_EQ(name->host, "localhost");
  EXPECT_EQ(parse_admin_address("0.0.0.0:1")->host, "127.0.0.1");  // wildcard bind: reached on loopback
  EXPECT_EQ(parse_admin_address("[::]:1")->host, "::1");
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", ":80", "127.0.0.1:0", "127.0.0.1:65536", "::1:80",
                          "[::1]80", "[::1]:", "host:http"}) {
    EXPECT_FALSE(parse_admin_address(bad)) << bad;
  }
}

TEST(ResolveTarget, OverridesNeedNoConfig) {
  test::TempDir dir;
  const std::string token_file = write(dir.path() / "token", std::string(kToken) + "\n");
  auto t = resolve_target("", "127.0.0.1:8025", token_file);
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 8025);
  EXPECT_EQ(t->token, kToken);
}

TEST(ResolveTarget, NothingGiven) {
  auto t = resolve_target("", "", "");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("--config"), std::string::npos);
}

TEST(ResolveTarget, FromConfig) {
  test::TempDir dir;
  write(dir.path() / "admin.token", kToken);
  const std::string config = write(dir.path() / "mailflow.yaml",
                                   config_with("  admin: {address: \"127.0.0.1:8025\", token_file: admin.token}\n"));
  auto t = resolve_target(config, "", "");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->host, "127.0.0.1");
  EXPECT_EQ(t->port, 8025);
  EXPECT_EQ(t->token, kToken);  // token_file resolved against the config file's folder

  // Each override replaces its half only.
  const std::string other = write(dir.path() / "other.token", "ffffffffffffffffffffffffffffffff");
  auto o = resolve_target(config, "127.0.0.2:9", other);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->host, "127.0.0.2");
  EXPECT_EQ(o->token, "ffffffffffffffffffffffffffffffff");
  auto a = resolve_target(config, "127.0.0.2:9", "");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->port, 9);
  EXPECT_EQ(a->token, kToken);
}

TEST(ResolveTarget, ConfigWithoutAdminSection) {
  test::TempDir dir;
  const std::string config = write(dir.path() / "mailflow.yaml", config_with(""));
  auto t = resolve_target(config, "", "");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("service.admin.address is not set"), std::string::npos) << t.error().message;
}

TEST(ResolveTarget, ConfigWithErrors) {
  test::TempDir dir;
  const std::string config = write(dir.path() / "bad.yaml", "service: {hostname: 3}\nbogus: true\n");
  auto t = resolve_target(config, "", "");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("mailflow check"), std::string::npos) << t.error().message;
}

TEST(ResolveTarget, MissingTokenFile) {
  test::TempDir dir;
  auto t = resolve_target("", "127.0.0.1:1", (dir.path() / "absent").string());
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("absent"), std::string::npos);
}

TEST(ExitCodes, ByStatus) {
  EXPECT_EQ(exit_code_for_status(200), 0);
  EXPECT_EQ(exit_code_for_status(204), 0);
  EXPECT_EQ(exit_code_for_status(400), 1);
  EXPECT_EQ(exit_code_for_status(401), 1);
  EXPECT_EQ(exit_code_for_status(404), 1);
  EXPECT_EQ(exit_code_for_status(409), 1);
  EXPECT_EQ(exit_code_for_status(500), 2);
  EXPECT_EQ(exit_code_for_status(503), 2);
}

TEST(HttpReplyError, FromJsonBodyOrText) {
  EXPECT_EQ((HttpReply{404, "application/json", "{\"error\":\"no such message\"}\n"}.error_message()),
            "no such message");
  EXPECT_EQ((HttpReply{502, "text/plain", "Bad gateway\nmore"}.error_message()), "Bad gateway");
  EXPECT_EQ((HttpReply{503, "", ""}.error_message()), "HTTP 503 Service Unavailable");
}

TEST(Client, NothingListeningIsUnreachable) {
  // A port that was just free: bind, read it, close.
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor probe(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = probe.local_endpoint().port();
  probe.close();
  Client client(Target{"127.0.0.1", port, kToken});
  auto r = client.get("/healthz");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("service unreachable at 127.0.0.1:" + std::to_string(port)), std::string::npos)
      << r.error().message;
}

}  // namespace
}  // namespace mf::admin
