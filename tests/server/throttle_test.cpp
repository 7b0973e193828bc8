// Tests for src/server/throttle.cpp and its use in ServicePolicy::check_mail (R-IN-7 IP throttling,
// R-IN-6 at MAIL FROM on a one-organization service). Time is passed in; nothing sleeps.
#include "config/config.hpp"
#include "server/policy.hpp"
#include "server/throttle.hpp"
#include "metrics/service_metrics.hpp"
#include "support/memory_spool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>
#include <vector>

namespace mf::server {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = IpThrottle::Clock;
const Clock::time_point t0 = Clock::time_point() + std::chrono::hours(1000);

TEST(R_IN_7_IpThrottle, AdmitsUpToTheLimitWithinTheWindowThenRefuses) {
  IpThrottle t;
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(t.admit("192.0.2.1", 10, seconds(60), t0 + seconds(i))) << i;
  EXPECT_FALSE(t.admit("192.0.2.1", 10, seconds(60), t0 + seconds(10)));
  EXPECT_FALSE(t.admit("192.0.2.1", 10, seconds(60), t0 + seconds(59)));
  // Other clients are not affected.
  EXPECT_TRUE(t.admit("192.0.2.2", 10, seconds(60), t0 + seconds(10)));
  EXPECT_TRUE(t.admit("2001:db8::1", 10, seconds(60), t0 + seconds(10)));
}

TEST(R_IN_7_IpThrottle, TheRateFallsBackAsTheWindowSlides) {
  IpThrottle t;
  // A burst of 10 at the start of a window fills it.
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(t.admit("192.0.2.1", 10, seconds(60), t0));
  EXPECT_FALSE(t.admit("192.0.2.1", 10, seconds(60), t0 + seconds(30)));
  // Half a window later the burst counts for half: 5 more fit, the 6th does not.
  const auto later = t0 + seconds(90);
  int admitted = 0;
  while (t.admit("192.0.2.1", 10, seconds(60), later)) ++admitted;
  EXPECT_EQ(admitted, 5);
  // Two windows of silence forget the client entirely.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(t.admit("192.0.2.1", 10, seconds(60), t0 + seconds(300))) << i;
}

TEST(R_IN_7_IpThrottle, RefusedAttemptsDoNotCount) {
  IpThrottle t;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(t.admit("192.0.2.1", 3, seconds(10), t0));
  for (int i = 0; i < 1000; ++i) ASSERT_FALSE(t.admit("192.0.2.1", 3, seconds(10), t0 + milliseconds(i)));
  // Once the earlier three have slid out, the client is admitted again although it kept trying.
  EXPECT_TRUE(t.admit("192.0.2.1", 3, seconds(10), t0 + seconds(20)));
}

TEST(R_IN_7_IpThrottle, ZeroMeansUnlimited) {
  IpThrottle t;
  for (int i = 0; i < 10000; ++i) ASSERT_TRUE(t.admit("192.0.2.1", 0, seconds(60), t0));
  EXPECT_EQ(t.tracked(), 0u);
}

TEST(R_IN_7_IpThrottle, MemoryIsBoundedByForgettingTheLeastRecentlySeen) {
  IpThrottle t(/*max_tracked=*/100);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(t.admit("10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256), 5, seconds(60),
                        t0 + milliseconds(i)));
  }
  EXPECT_LE(t.tracked(), 100u);
}

TEST(R_IN_7_IpThrottle, ConcurrentCallersNeverAdmitMoreThanTheLimit) {
  IpThrottle t;
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int k = 0; k < 4; ++k) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) {
        if (t.admit("192.0.2.1", 100, seconds(60), t0)) ++admitted;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(admitted.load(), 100);
}

// ServicePolicy with the throttle and partner checks, over a real configuration.
const char* kConfig = R"(
service:
  hostname: mx.cloud.test
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
  throttling: {window: 60s, max_messages_per_ip: 3}
organizations:
  - name: contoso
    accepted_domains:
      - {domain: contoso.com, type: authoritative}
    recipients:
      - {type: mailbox, address: david@contoso.com}
    inbound_connectors:
      - {name: Fabrikam, connector_type: partner, sender_domains: [fabrikam.com]}
      - {name: Woodgrove, connector_type: partner, sender_domains: [woodgrove.com], require_tls: false,
         sender_ip_addresses: [198.51.100.0/24]}
      - {name: Own servers, connector_type: on_premises, sender_ip_addresses: [203.0.113.0/24]}
)";

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto loaded = config::load_string(kConfig, "/tmp/throttle_test.yaml");
    ASSERT_TRUE(loaded.ok());
    snap_ = loaded.snapshot;
  }
  ServicePolicy policy() {
    return ServicePolicy([this] { return snap_; }, spool_, [this] { return now_; });
  }
  static ConnectionFacts client(const char* ip, bool tls = false) {
    ConnectionFacts c;
    c.listener = "mx";
    c.client_ip = ip;
    c.tls = tls;
    return c;
  }
  static Envelope from(const char* sender) {
    Envelope e;
    e.sender = *Address::parse(sender);
    return e;
  }
  static std::string code(const std::optional<Reply>& r) {
    return r ? std::to_string(r->code) + " " + r->enhanced + " " + r->text : "accepted";
  }

  std::shared_ptr<const config::Snapshot> snap_;
  test::MemorySpool spool_;
  Clock::time_point now_ = t0;
};

TEST_F(PolicyTest, R_IN_7_AnUnknownClientIsThrottledWith451_4_7_500NamingItsIp) {
  auto p = policy();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(code(p.check_mail(client("192.0.2.7"), from("a@example.org"))), "accepted");
  EXPECT_EQ(code(p.check_mail(client("192.0.2.7"), from("a@example.org"))),
            "451 4.7.500 Server busy, please try again later from [192.0.2.7]");
  now_ += std::chrono::minutes(3);
  EXPECT_EQ(code(p.check_mail(client("192.0.2.7"), from("a@example.org"))), "accepted");
}

TEST_F(PolicyTest, R_IN_7_ConnectorMatchedAndAuthenticatedClientsAreNeverThrottled) {
  auto p = policy();
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(code(p.check_mail(client("203.0.113.9"), from("a@contoso.com"))), "accepted") << i;  // on_premises
    ASSERT_EQ(code(p.check_mail(client("198.51.100.4"), from("a@woodgrove.com"))), "accepted") << i;  // partner IP
    ConnectionFacts authed = client("192.0.2.99", true);
    authed.authenticated_user = "david@contoso.com";
    ASSERT_EQ(code(p.check_mail(authed, from("david@contoso.com"))), "accepted") << i;
  }
}

TEST_F(PolicyTest, R_IN_6_OneOrganizationRefusesPlainMailFromATlsPartnerAtMailFrom) {
  auto p = policy();
  EXPECT_EQ(code(p.check_mail(client("192.0.2.8"), from("a@fabrikam.com"))),
            "451 5.7.3 STARTTLS is required to send mail");
  EXPECT_EQ(code(p.check_mail(client("192.0.2.8", true), from("a@fabrikam.com"))), "accepted");
}

TEST(RejectReason, EveryRefusalMapsToOneOfTheDocumentedWords) {
  auto reason = [](int code, const char* enhanced) {
    return std::string(reject_reason(make_reply(code, enhanced, "x")));
  };
  EXPECT_EQ(reason(550, "5.7.54"), "relay_denied");
  EXPECT_EQ(reason(550, "5.7.64"), "relay_denied");
  EXPECT_EQ(reason(550, "5.4.1"), "unknown_recipient");
  EXPECT_EQ(reason(553, "5.7.1"), "sender_rejected");
  EXPECT_EQ(reason(550, "5.7.51"), "sender_rejected");
  EXPECT_EQ(reason(451, "5.7.3"), "tls_required");
  EXPECT_EQ(reason(451, "4.7.500"), "rate_limited");
  EXPECT_EQ(reason(535, "5.7.8"), "auth_failed");
  EXPECT_EQ(reason(552, "5.3.4"), "message_too_large");
  EXPECT_EQ(reason(452, "4.5.3"), "too_many_recipients");
  EXPECT_EQ(reason(500, "5.5.2"), "protocol_error");
  EXPECT_EQ(reason(452, "4.3.1"), "temporary_failure");
  for (const auto& [code, enhanced] : std::vector<std::pair<int, const char*>>{
           {550, "5.7.54"}, {550, "5.4.1"}, {553, "5.7.1"}, {451, "5.7.3"}, {451, "4.7.500"}, {535, "5.7.8"},
           {552, "5.3.4"}, {452, "4.5.3"}, {500, "5.5.2"}, {452, "4.3.1"}, {554, "5.7.1"}, {530, "5.7.0"}}) {
    const auto word = reject_reason(make_reply(code, enhanced, "x"));
    EXPECT_NE(std::find(metrics::kRejectReasons.begin(), metrics::kRejectReasons.end(), word),
              metrics::kRejectReasons.end())
        << word;
  }
}

}  // namespace
}  // namespace mf::server
