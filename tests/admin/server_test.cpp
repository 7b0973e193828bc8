// Tests of admin/server.hpp and admin/router.hpp: every route over real loopback HTTP against the
// FakeBackend, the bearer token, errors, limits and keep-alive.
#include "admin/client.hpp"
#include "admin/fake_backend.hpp"
#include "admin/server.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <gtest/gtest.h>

namespace mf::admin {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using nlohmann::json;
using testing::FakeBackend;

constexpr const char* kToken = "test-token-0123456789abcdef";

class AdminServerTest : public ::testing::Test {
 protected:
  void SetUp() override { start({}); }

  void start(AdminServerOptions options) {
    options.address = "127.0.0.1";
    options.port = 0;
    options.token = kToken;
    server_ = std::make_unique<AdminServer>(options, backend_, &registry_);
    auto started = server_->start();
    ASSERT_TRUE(started) << started.error().message;
    ASSERT_NE(server_->port(), 0);
  }

  Client client(std::string token = kToken) { return Client(Target{"127.0.0.1", server_->port(), std::move(token)}); }

  HttpReply call(http::verb method, const std::string& path, std::string token = kToken) {
    auto r = client(std::move(token)).request(method, path);
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : HttpReply{};
  }
  HttpReply get(const std::string& path) { return call(http::verb::get, path); }
  HttpReply post(const std::string& path) { return call(http::verb::post, path); }

  tcp::socket connect() {
    tcp::socket s(io_);
    s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server_->port()));
    return s;
  }

  // Sends raw bytes and returns everything the server writes until it closes the connection.
  std::string raw(const std::string& bytes) {
    tcp::socket s = connect();
    asio::write(s, asio::buffer(bytes));
    std::string out;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(out), ec);
    return out;
  }

  metrics::Registry registry_;
  metrics::Gauge& queue_gauge_ = registry_.gauge("mailflow_queue_messages", "Messages in the queue.");
  FakeBackend backend_{&queue_gauge_};
  asio::io_context io_;
  std::unique_ptr<AdminServer> server_;
};

TEST_F(AdminServerTest, HealthzNeedsNoToken) {
  auto r = client("").get("/healthz");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(r->body, "ok\n");
}

TEST_F(AdminServerTest, HealthzOnlyGet) {
  EXPECT_EQ(call(http::verb::post, "/healthz", "").status, 405u);
}

TEST_F(AdminServerTest, EveryOtherRouteNeedsTheToken) {
  const std::vector<std::pair<http::verb, std::string>> routes = {
      {http::verb::get, "/metrics"},
      {http::verb::get, "/api/v1/queue"},
      {http::verb::get, "/api/v1/messages"},
      {http::verb::get, "/api/v1/messages/1A2B3C4D"},
      {http::verb::delete_, "/api/v1/messages/1A2B3C4D"},
      {http::verb::post, "/api/v1/messages/1A2B3C4D/retry"},
      {http::verb::post, "/api/v1/messages/1A2B3C4D/hold"},
      {http::verb::post, "/api/v1/messages/9C0D1E2F/release"},
      {http::verb::post, "/api/v1/queue/retry"},
      {http::verb::post, "/api/v1/reload"},
      {http::verb::get, "/api/v1/trace"},
      {http::verb::get, "/api/v1/nothing-here"},
  };
  for (const auto& [method, path] : routes) {
    for (const std::string token : {"", "wrong-token-0123456789abcdef", "test-token-0123456789abcde"}) {
      auto r = client(token).request(method, path);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 401u) << path << " token=" << token;
      EXPECT_EQ(json::parse(r->body)["error"], token.empty() ? "missing bearer token" : "invalid bearer token");
    }
  }
  std::lock_guard lock(backend_.mu);
  EXPECT_TRUE(backend_.calls.empty());
  EXPECT_EQ(backend_.messages.size(), 3u);
}

TEST_F(AdminServerTest, UnauthorizedCarriesWwwAuthenticate) {
  const std::string out = raw("GET /api/v1/queue HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 401")) << out;
  EXPECT_NE(out.find("WWW-Authenticate: Bearer realm=\"mailflow\""), std::string::npos) << out;
  const std::string wrong = raw(
      "GET /api/v1/queue HTTP/1.1\r\nHost: x\r\nAuthorization: Basic dXNlcjpwYXNz\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(wrong.starts_with("HTTP/1.1 401")) << wrong;
}

TEST_F(AdminServerTest, BearerSchemeIsCaseInsensitive) {
  const std::string out = raw(std::string("GET /api/v1/queue HTTP/1.1\r\nHost: x\r\nAuthorization: bearer ") +
                              kToken + "\r\nConnection: close\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 200")) << out;
}

TEST_F(AdminServerTest, MetricsInPrometheusFormat) {
  auto r = get("/metrics");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  // before_scrape() refreshed the gauge from the fake queue.
  EXPECT_NE(r.body.find("# TYPE mailflow_queue_messages gauge\nmailflow_queue_messages 3\n"), std::string::npos)
      << r.body;
  std::lock_guard lock(backend_.mu);
  EXPECT_EQ(backend_.scrapes, 1);
}

TEST_F(AdminServerTest, QueueSummary) {
  auto r = get("/api/v1/queue");
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(r.content_type, "application/json");
  const auto s = json::parse(r.body).get<QueueSummary>();
  EXPECT_EQ(s.messages, 3u);
  EXPECT_EQ(s.recipients, 4u);
  EXPECT_EQ(s.oldest_age_seconds, 7200);
  ASSERT_EQ(s.by_next_hop.size(), 3u);
  EXPECT_EQ(s.by_next_hop[0].key, "example.net");
  EXPECT_EQ(s.by_next_hop[0].recipients, 2u);
  ASSERT_EQ(s.by_organization.size(), 2u);
  EXPECT_EQ(s.by_organization[0].key, "contoso");
  EXPECT_EQ(s.by_organization[0].messages, 2u);
  EXPECT_EQ(s.by_connector.size(), 3u);
}

TEST_F(AdminServerTest, ListMessages) {
  auto r = get("/api/v1/messages");
  ASSERT_EQ(r.status, 200u);
  const auto list = json::parse(r.body).at("messages").get<std::vector<MessageInfo>>();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].id, "1A2B3C4D");
  EXPECT_EQ(list[0].recipients[0].last_error, "451 4.7.1 Greylisted, try again later");
}

TEST_F(AdminServerTest, ListMessagesPassesTheFilter) {
  auto r = get("/api/v1/messages?recipient=CAROL%40example.net&state=queued&organization=contoso&connector=internet"
               "&next_hop=example.net&sender=&limit=5");
  ASSERT_EQ(r.status, 200u) << r.body;
  const auto list = json::parse(r.body).at("messages").get<std::vector<MessageInfo>>();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].id, "5E6F7A8B");
  std::lock_guard lock(backend_.mu);
  EXPECT_EQ(backend_.last_filter.recipient, "CAROL@example.net");
  EXPECT_EQ(backend_.last_filter.state, RecipientState::queued);
  EXPECT_EQ(backend_.last_filter.organization, "contoso");
  EXPECT_EQ(backend_.last_filter.connector, "internet");
  EXPECT_EQ(backend_.last_filter.next_hop, "example.net");
  EXPECT_EQ(backend_.last_filter.limit, 5u);
}

TEST_F(AdminServerTest, ListMessagesBadFilterIs400) {
  for (const char* path : {"/api/v1/messages?state=lost", "/api/v1/messages?limit=x", "/api/v1/messages?colour=red",
                           "/api/v1/messages?sender=%zz", "/api/v1/messages?limit=1&limit=2"}) {
    auto r = get(path);
    EXPECT_EQ(r.status, 400u) << path;
    EXPECT_TRUE(json::parse(r.body).contains("error")) << path;
  }
}

TEST_F(AdminServerTest, ShowMessage) {
  auto r = get("/api/v1/messages/9C0D1E2F");
  ASSERT_EQ(r.status, 200u);
  const auto m = json::parse(r.body).get<MessageInfo>();
  EXPECT_EQ(m.id, "9C0D1E2F");
  EXPECT_TRUE(m.held);
  EXPECT_EQ(m.size, 100000u);
}

TEST_F(AdminServerTest, ShowUnknownMessageIs404) {
  auto r = get("/api/v1/messages/NOPE");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(json::parse(r.body)["error"], "no queued message with id NOPE");
}

TEST_F(AdminServerTest, DeleteMessage) {
  auto r = call(http::verb::delete_, "/api/v1/messages/1A2B3C4D");
  ASSERT_EQ(r.status, 200u);
  const auto op = json::parse(r.body).get<OpResult>();
  EXPECT_EQ(op.status, OpStatus::ok);
  EXPECT_EQ(op.affected, 1u);
  EXPECT_EQ(get("/api/v1/messages/1A2B3C4D").status, 404u);
  auto again = call(http::verb::delete_, "/api/v1/messages/1A2B3C4D");
  EXPECT_EQ(again.status, 404u);
  EXPECT_EQ(json::parse(again.body)["status"], "not_found");
  EXPECT_EQ(json::parse(again.body)["error"], "no queued message with id 1A2B3C4D");
}

TEST_F(AdminServerTest, HoldAndRelease) {
  EXPECT_EQ(post("/api/v1/messages/5E6F7A8B/hold").status, 200u);
  EXPECT_TRUE(json::parse(get("/api/v1/messages/5E6F7A8B").body).get<MessageInfo>().held);
  EXPECT_EQ(post("/api/v1/messages/5E6F7A8B/release").status, 200u);
  auto conflict = post("/api/v1/messages/5E6F7A8B/release");
  EXPECT_EQ(conflict.status, 409u);
  EXPECT_EQ(json::parse(conflict.body)["status"], "conflict");
  EXPECT_EQ(post("/api/v1/messages/NOPE/hold").status, 404u);
  std::lock_guard lock(backend_.mu);
  EXPECT_EQ(backend_.calls, (std::vector<std::string>{"hold:5E6F7A8B", "release:5E6F7A8B", "release:5E6F7A8B",
                                                       "hold:NOPE"}));
}

TEST_F(AdminServerTest, RetryOneAndAll) {
  auto one = post("/api/v1/messages/1A2B3C4D/retry");
  EXPECT_EQ(one.status, 200u);
  EXPECT_EQ(post("/api/v1/messages/NOPE/retry").status, 404u);
  auto all = post("/api/v1/queue/retry");
  ASSERT_EQ(all.status, 200u);
  EXPECT_EQ(json::parse(all.body).get<OpResult>().affected, 1u);
  std::lock_guard lock(backend_.mu);
  EXPECT_EQ(backend_.calls, (std::vector<std::string>{"retry:1A2B3C4D", "retry:NOPE", "retry:"}));
}

TEST_F(AdminServerTest, MessageIdIsPercentDecoded) {
  EXPECT_EQ(get("/api/v1/messages/9C0D%311E2F").status, 404u);  // "9C0D11E2F"
  EXPECT_EQ(get("/api/v1/messages/%39C0D1E2F").status, 200u);   // "9C0D1E2F"
  EXPECT_EQ(get("/api/v1/messages/a%2Fb").status, 404u);
}

TEST_F(AdminServerTest, Reload) {
  auto ok = post("/api/v1/reload");
  ASSERT_EQ(ok.status, 200u);
  EXPECT_TRUE(json::parse(ok.body).get<ReloadResult>().ok);
  {
    std::lock_guard lock(backend_.mu);
    backend_.next_reload = ReloadResult{false, {"mailflow.yaml:3:5: service.hostname: required"}};
  }
  auto bad = post("/api/v1/reload");
  ASSERT_EQ(bad.status, 409u);
  const auto body = json::parse(bad.body);
  EXPECT_FALSE(body.get<ReloadResult>().ok);
  EXPECT_EQ(body["errors"][0], "mailflow.yaml:3:5: service.hostname: required");
  EXPECT_EQ(body["error"], "the configuration has errors; the old one stays in force");
}

TEST_F(AdminServerTest, TraceWithQuery) {
  auto r = get("/api/v1/trace?sender=alice%40contoso.com&recipient=bob%40fabrikam.com&message_id=1A2B3C4D"
               "&since=2023-11-14T22:13:20Z&limit=10");
  ASSERT_EQ(r.status, 200u) << r.body;
  const auto events = json::parse(r.body).at("events").get<std::vector<trace::Event>>();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, trace::EventType::DEFER);
  std::lock_guard lock(backend_.mu);
  EXPECT_EQ(backend_.last_query.sender, "alice@contoso.com");
  EXPECT_EQ(backend_.last_query.recipient, "bob@fabrikam.com");
  EXPECT_EQ(backend_.last_query.message_id, "1A2B3C4D");
  EXPECT_EQ(backend_.last_query.since_us, 1700000000LL * 1000000);
  EXPECT_EQ(backend_.last_query.limit, 10u);
}

TEST_F(AdminServerTest, TraceWithoutQueryReturnsAll) {
  auto r = get("/api/v1/trace");
  ASSERT_EQ(r.status, 200u);
  EXPECT_EQ(json::parse(r.body).at("events").size(), 4u);
}

TEST_F(AdminServerTest, TraceBadSinceIs400) {
  auto r = get("/api/v1/trace?since=yesterday");
  EXPECT_EQ(r.status, 400u);
  EXPECT_NE(json::parse(r.body)["error"].get<std::string>().find("since"), std::string::npos);
}

TEST_F(AdminServerTest, BackendFailuresAre500) {
  {
    std::lock_guard lock(backend_.mu);
    backend_.trace_fails = true;
    backend_.summary_throws = true;
  }
  auto t = get("/api/v1/trace");
  EXPECT_EQ(t.status, 500u);
  EXPECT_EQ(json::parse(t.body)["error"], "message trace: trace store is locked");
  auto q = get("/api/v1/queue");
  EXPECT_EQ(q.status, 500u);
  EXPECT_EQ(json::parse(q.body)["error"], "internal error: queue unavailable");
}

TEST_F(AdminServerTest, UnknownPathsAre404) {
  for (const char* path : {"/", "/api", "/api/v1", "/api/v1/", "/api/v2/queue", "/api/v1queue", "/api/v1/queue/x",
                           "/api/v1/messages/1A2B3C4D/explode", "/api/v1/messages//retry", "/metricsx"}) {
    auto r = get(path);
    EXPECT_EQ(r.status, 404u) << path;
    EXPECT_EQ(json::parse(r.body)["error"], "no such endpoint") << path;
  }
}

TEST_F(AdminServerTest, WrongMethodsAre405WithAllow) {
  const std::vector<std::tuple<http::verb, std::string, std::string>> cases = {
      {http::verb::post, "/metrics", "GET"},
      {http::verb::post, "/api/v1/queue", "GET"},
      {http::verb::get, "/api/v1/queue/retry", "POST"},
      {http::verb::delete_, "/api/v1/messages", "GET"},
      {http::verb::post, "/api/v1/messages/1A2B3C4D", "GET, DELETE"},
      {http::verb::get, "/api/v1/messages/1A2B3C4D/retry", "POST"},
      {http::verb::get, "/api/v1/reload", "POST"},
      {http::verb::put, "/api/v1/trace", "GET"},
  };
  for (const auto& [method, path, allow] : cases) {
    std::string req = std::string(http::to_string(method)) + " " + path +
                      " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kToken +
                      "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const std::string out = raw(req);
    EXPECT_TRUE(out.starts_with("HTTP/1.1 405")) << path << "\n" << out;
    EXPECT_NE(out.find("Allow: " + allow + "\r\n"), std::string::npos) << path << "\n" << out;
  }
  std::lock_guard lock(backend_.mu);
  EXPECT_TRUE(backend_.calls.empty());
}

TEST_F(AdminServerTest, MalformedRequestIs400AndClosed) {
  const std::string out = raw("THIS IS NOT HTTP\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 400")) << out;
  EXPECT_NE(out.find("\"error\":\"bad request"), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;
}

TEST_F(AdminServerTest, OversizedBodyIs413) {
  const std::string out = raw(std::string("POST /api/v1/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ") +
                              kToken + "\r\nContent-Length: 10000000\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 413")) << out;
  std::lock_guard lock(backend_.mu);
  EXPECT_TRUE(backend_.calls.empty());
}

TEST_F(AdminServerTest, OversizedHeaderIs431) {
  const std::string out =
      raw("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + std::string(64 * 1024, 'a') + "\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 431")) << out.substr(0, 200);
}

TEST_F(AdminServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  tcp::socket s = connect();
  boost::beast::flat_buffer buffer;
  for (int i = 0; i < 3; ++i) {
    http::request<http::string_body> req{http::verb::get, "/api/v1/messages/1A2B3C4D", 11};
    req.set(http::field::host, "x");
    req.set(http::field::authorization, std::string("Bearer ") + kToken);
    http::write(s, req);
    http::response<http::string_body> res;
    http::read(s, buffer, res);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_TRUE(res.keep_alive());
  }
}

TEST_F(AdminServerTest, ConnectionsBeyondTheLimitGet503) {
  server_.reset();
  AdminServerOptions options;
  options.max_connections = 1;
  start(options);
  // The first connection is served and stays open (keep-alive).
  tcp::socket first = connect();
  boost::beast::flat_buffer buffer;
  http::request<http::string_body> req{http::verb::get, "/healthz", 11};
  req.set(http::field::host, "x");
  http::write(first, req);
  http::response<http::string_body> res;
  http::read(first, buffer, res);
  ASSERT_EQ(res.result_int(), 200u);
  const std::string out = raw("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(out.starts_with("HTTP/1.1 503")) << out;
}

TEST_F(AdminServerTest, StopClosesIdleConnections) {
  tcp::socket idle = connect();
  server_->stop();  // must not wait for the idle client
  std::string out;
  boost::system::error_code ec;
  asio::read(idle, asio::dynamic_buffer(out), ec);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(ec);
}

TEST(AdminServer, BadAddressIsReported) {
  FakeBackend backend;
  AdminServerOptions options;
  options.address = "not-an-ip";
  options.token = kToken;
  AdminServer server(options, backend, nullptr);
  auto r = server.start();
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not-an-ip"), std::string::npos);
}

TEST(AdminServer, PortInUseIsReported) {
  FakeBackend backend;
  AdminServerOptions options;
  options.token = kToken;
  AdminServer first(options, backend, nullptr);
  ASSERT_TRUE(first.start());
  options.port = first.port();
  AdminServer second(options, backend, nullptr);
  EXPECT_FALSE(second.start());
}

TEST(AdminServer, EmptyTokenRefused) {
  FakeBackend backend;
  AdminServer server(AdminServerOptions{}, backend, nullptr);
  EXPECT_FALSE(server.start());
}

TEST(AdminServer, MetricsWithoutRegistryIsEmpty) {
  FakeBackend backend;
  AdminServerOptions options;
  options.token = kToken;
  AdminServer server(options, backend, nullptr);
  ASSERT_TRUE(server.start());
  auto r = Client(Target{"127.0.0.1", server.port(), kToken}).get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200u);
  EXPECT_EQ(r->body, "");
}

}  // namespace
}  // namespace mf::admin
