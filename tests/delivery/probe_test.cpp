// Tests for the pure parts of src/delivery/probe.cpp (connector validation, R-OUT-10): the TLS
// policy verdict in words (describe_tls), the host verdict (judge_host), the test message, the
// text report, and resolve_hosts() against a FakeResolver (no network). The transaction itself is
// covered by tests/integration/test_validate_connector.py against real peers.
#include "delivery/probe.hpp"
#include "support/fake_resolver.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace mf::delivery {
namespace {

namespace asio = boost::asio;
using config::TlsSettings;

TlsAttempt handshake(std::vector<std::string> names, bool trusted, const routing::TlsRequirement& req) {
  TlsAttempt a;
  a.handshake_ok = true;
  a.peer.version = "TLSv1.3";
  a.peer.cipher = "TLS_AES_256_GCM_SHA384";
  a.peer.cert_presented = true;
  a.peer.cert_verified = trusted;
  if (!trusted) a.peer.verify_error = "self-signed certificate";
  a.peer.names = names;
  a.peer.reference_names = names;
  a.outcome = routing::tls_decide(req, true, true, "", trusted, names);
  return a;
}

struct TlsRow {
  TlsSettings settings;
  std::string tls_domain;
  std::string host;
  bool offered;
  std::vector<std::string> cert_names;  // empty with offered = a failed handshake
  bool trusted;
  std::string want;
};

TEST(DescribeTls, Table) {
  const TlsRow rows[] = {
      {TlsSettings::domain_validation, "*.contoso.com", "127.0.0.5", true, {"mail.contoso.com"}, true,
       "domain_validation: certificate chain trusted; certificate name mail.contoso.com matches tls_domain "
       "*.contoso.com: ok"},
      {TlsSettings::domain_validation, "other.contoso.com", "127.0.0.5", true, {"mail.contoso.com"}, true,
       "domain_validation: certificate chain trusted; no certificate name (mail.contoso.com) matches tls_domain "
       "other.contoso.com: failed (certificate name mismatch)"},
      {TlsSettings::domain_validation, "", "mail.contoso.com", true, {"*.contoso.com"}, true,
       "domain_validation: certificate chain trusted; certificate name *.contoso.com matches host name "
       "mail.contoso.com: ok"},
      {TlsSettings::domain_validation, "", "127.0.0.5", true, {"mail.contoso.com"}, true,
       "domain_validation: certificate chain trusted; no name to check: the host is an IP address and tls_domain "
       "is not set: failed (certificate name mismatch)"},
      {TlsSettings::domain_validation, "mail.contoso.com", "127.0.0.5", true, {"mail.contoso.com"}, false,
       "domain_validation: certificate not trusted (self-signed certificate); certificate name mail.contoso.com "
       "matches tls_domain mail.contoso.com: failed (certificate not trusted)"},
      {TlsSettings::certificate_validation, "", "mx.example", true, {"mx.example"}, true,
       "certificate_validation: certificate chain trusted: ok"},
      {TlsSettings::encryption_only, "", "mx.example", true, {"whatever"}, false,
       "encryption_only: TLSv1.3, certificate not checked: ok"},
      {TlsSettings::opportunistic, "", "mx.example", true, {"whatever"}, false,
       "opportunistic: TLSv1.3, certificate not checked: ok"},
      {TlsSettings::opportunistic, "", "mx.example", false, {}, false,
       "opportunistic: STARTTLS not offered: plain text, no TLS: ok"},
      {TlsSettings::encryption_only, "", "mx.example", false, {}, false,
       "encryption_only: STARTTLS not offered but TLS is required: failed (STARTTLS not offered)"},
  };
  for (const auto& row : rows) {
    const auto req = routing::tls_requirement(row.settings, row.tls_domain, row.host);
    std::optional<TlsAttempt> attempt;
    if (row.offered) attempt = handshake(row.cert_names, row.trusted, req);
    EXPECT_EQ(describe_tls(row.settings, row.tls_domain, req, row.offered, attempt), row.want);
  }
}

TEST(DescribeTls, FailedHandshake) {
  TlsAttempt a;
  a.handshake_ok = false;
  a.handshake_error = "stream truncated";
  auto opp = routing::tls_requirement(TlsSettings::opportunistic, "", "mx.example");
  a.outcome = routing::tls_decide(opp, true, false, a.handshake_error, false, {});
  EXPECT_EQ(describe_tls(TlsSettings::opportunistic, "", opp, true, a),
            "opportunistic: TLS handshake failed (stream truncated): delivery connects again in plain text");
  auto eo = routing::tls_requirement(TlsSettings::encryption_only, "", "mx.example");
  a.outcome = routing::tls_decide(eo, true, false, a.handshake_error, false, {});
  EXPECT_EQ(describe_tls(TlsSettings::encryption_only, "", eo, true, a),
            "encryption_only: TLS handshake failed (stream truncated): failed (TLS handshake failed: stream truncated)");
}

ProbeHost host_with(std::vector<ProbeStep> steps, bool rcpt, bool message) {
  ProbeHost h;
  h.target = Target{"mx.example", *IpAddress::parse("127.0.0.5"), 2525};
  h.steps = std::move(steps);
  h.rcpt_accepted = rcpt;
  h.message_accepted = message;
  return h;
}

TEST(JudgeHost, PassesOnAcceptedRcpt) {
  auto h = host_with({{"RCPT TO", StepStatus::ok, "250 2.1.5 Ok"}}, true, false);
  judge_host(h, false);
  EXPECT_TRUE(h.passed);
  EXPECT_EQ(h.reason, "");
}

TEST(JudgeHost, WithSendTheMessageMustBeAccepted) {
  auto h = host_with({{"RCPT TO", StepStatus::ok, "250 2.1.5 Ok"},
                      {"end of data", StepStatus::failed, "554 5.7.1 spam"}},
                     true, false);
  judge_host(h, true);
  EXPECT_FALSE(h.passed);
  EXPECT_EQ(h.reason, "end of data: 554 5.7.1 spam");
}

TEST(JudgeHost, ReasonIsTheLastFailedStep) {
  auto h = host_with({{"TLS", StepStatus::failed, "handshake failed"},
                      {"reconnect", StepStatus::info, "..."},
                      {"RCPT TO", StepStatus::failed, "550 5.1.1 no such user"},
                      {"QUIT", StepStatus::info, "221 2.0.0 Bye"}},
                     false, false);
  judge_host(h, false);
  EXPECT_FALSE(h.passed);
  EXPECT_EQ(h.reason, "RCPT TO: 550 5.1.1 no such user");
}

TEST(JudgeHost, NoFailedStepStillExplains) {
  auto h = host_with({}, false, false);
  judge_host(h, false);
  EXPECT_EQ(h.reason, "RCPT TO was not accepted");
}

TEST(ProbeHost, Label) {
  auto h = host_with({}, false, false);
  EXPECT_EQ(h.label(), "mx.example[127.0.0.5]:2525");
  h.target.name = "127.0.0.5";
  EXPECT_EQ(h.label(), "127.0.0.5:2525");
  h.target = Target{"::1", *IpAddress::parse("::1"), 25};
  EXPECT_EQ(h.label(), "[::1]:25");
}

TEST(TestMessage, HeadersAndCrlf) {
  const auto from = Address::parse("postmaster@mx.example");
  const auto to = Address::parse("alice@fabrikam.example");
  const SysTime t = SysTime{std::chrono::seconds{1704164645}};  // 2024-01-02 03:04:05 UTC
  const std::string m = test_message(*from, *to, "mx.example", "to-fabrikam", t, "ABC.validate");
  EXPECT_NE(m.find("From: <postmaster@mx.example>\r\n"), std::string::npos) << m;
  EXPECT_NE(m.find("To: <alice@fabrikam.example>\r\n"), std::string::npos);
  EXPECT_NE(m.find("Subject: mailflow connector validation\r\n"), std::string::npos);
  EXPECT_NE(m.find("Date: Tue, 02 Jan 2024 03:04:05 +0000\r\n"), std::string::npos);
  EXPECT_NE(m.find("Message-ID: <ABC.validate@mx.example>\r\n"), std::string::npos);
  EXPECT_NE(m.find("\r\n\r\n"), std::string::npos);
  for (std::size_t i = 0; i < m.size(); ++i) {
    if (m[i] == '\n') {
      EXPECT_TRUE(i > 0 && m[i - 1] == '\r') << "bare LF at " << i;
    }
  }
  EXPECT_TRUE(m.ends_with("\r\n"));
  const std::string null_sender = test_message(std::nullopt, *to, "mx.example", "c", t, "X");
  EXPECT_NE(null_sender.find("From: <MAILER-DAEMON@mx.example>\r\n"), std::string::npos);
}

ProbeReport sample_report() {
  ProbeReport r;
  r.connector = "to-fabrikam";
  r.organization = "contoso";
  r.destination = "smart hosts 127.0.0.5, 127.0.0.6 (default port 2525)";
  r.tls = TlsSettings::opportunistic;
  r.sender = "postmaster@mx.example";
  r.recipient = "alice@fabrikam.example";
  r.resolution.steps.push_back({"IP", StepStatus::ok, "127.0.0.5: an IP address, used as is"});
  r.resolution.targets.push_back(Target{"127.0.0.5", *IpAddress::parse("127.0.0.5"), 2525});
  auto refused = host_with({{"connect", StepStatus::failed, "127.0.0.5:2525: connection refused"}}, false, false);
  refused.target.name = "127.0.0.5";
  judge_host(refused, false);
  auto good = host_with({{"connect", StepStatus::ok, "127.0.0.6:2525"}, {"RCPT TO", StepStatus::ok, "250 2.1.5 Ok"}},
                        true, false);
  good.target = Target{"127.0.0.6", *IpAddress::parse("127.0.0.6"), 2525};
  judge_host(good, false);
  r.hosts = {refused, good};
  return r;
}

TEST(RenderText, HostByHostAndSummary) {
  ProbeReport r = sample_report();
  const std::string text = render_text(r);
  EXPECT_NE(text.find("Outbound connector \"to-fabrikam\" (organization contoso)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("host 1 of 2: 127.0.0.5:2525\n  FAIL  connect      127.0.0.5:2525: connection refused\n"
                      "  => FAILED: connect: 127.0.0.5:2525: connection refused\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("host 2 of 2: 127.0.0.6:2525\n  ok    connect      127.0.0.6:2525\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  => passed: recipient accepted\n"), std::string::npos) << text;
  EXPECT_NE(text.find("summary: 1 of 2 hosts passed (127.0.0.6:2525); the connector can deliver to "
                      "alice@fabrikam.example\n"),
            std::string::npos)
      << text;
  EXPECT_TRUE(r.can_deliver());
}

TEST(RenderText, NothingPassedAndDisabled) {
  ProbeReport r = sample_report();
  r.enabled = false;
  r.hosts.pop_back();
  const std::string text = render_text(r);
  EXPECT_NE(text.find("DISABLED"), std::string::npos) << text;
  EXPECT_NE(text.find("summary: 0 of 1 host passed; the connector cannot deliver"), std::string::npos) << text;
  EXPECT_FALSE(r.can_deliver());
}

// resolve_hosts() with a FakeResolver: the engine's order (R-OUT-7/8).
ProbeResolution resolve(test::FakeResolver& dns, const routing::NextHop& hop) {
  asio::io_context io;
  std::mt19937 rng{1};
  auto fut = asio::co_spawn(io, resolve_hosts(dns, hop, 2525, rng), asio::use_future);
  io.run();
  return fut.get();
}

TEST(ResolveHosts, SmartHostsInConfigOrderThroughMxThenAddress) {
  test::FakeResolver dns;
  dns.set_mx("relay.example", std::vector<dns::MxRecord>{{20, "b.relay.example"}, {10, "a.relay.example"}});
  dns.set_addresses("a.relay.example", std::vector<std::string>{"127.0.0.11"});
  dns.set_addresses("b.relay.example", std::vector<std::string>{"127.0.0.12"});
  dns.set_mx("plain.example", dns::MxAnswer{dns::Status::nodata, {}, "NODATA"});
  dns.set_addresses("plain.example", std::vector<std::string>{"127.0.0.13"});
  routing::NextHop hop;
  hop.kind = routing::NextHop::Kind::smart_hosts;
  hop.smart_hosts = {config::HostPort{"127.0.0.10", 0, true}, config::HostPort{"relay.example", 2600, false},
                     config::HostPort{"plain.example", 0, false}};
  const auto r = resolve(dns, hop);
  std::vector<std::string> got;
  for (const auto& t : r.targets) got.push_back(t.name + "=" + t.ip.str() + ":" + std::to_string(t.port));
  EXPECT_EQ(got, (std::vector<std::string>{"127.0.0.10=127.0.0.10:2525", "a.relay.example=127.0.0.11:2600",
                                           "b.relay.example=127.0.0.12:2600", "plain.example=127.0.0.13:2525"}));
  ASSERT_GE(r.steps.size(), 2u);
  EXPECT_EQ(r.steps[1].detail, "relay.example: 10 a.relay.example, 20 b.relay.example");
}

TEST(ResolveHosts, NullMxAndNxdomainAreReported) {
  test::FakeResolver dns;
  dns.set_mx("nomail.example", dns::MxAnswer{dns::Status::null_mx, {}, "null MX"});
  routing::NextHop hop;
  hop.kind = routing::NextHop::Kind::mx;
  hop.mx_domain = "nomail.example";
  auto r = resolve(dns, hop);
  EXPECT_TRUE(r.targets.empty());
  ASSERT_EQ(r.steps.size(), 1u);
  EXPECT_EQ(r.steps[0].status, StepStatus::failed);
  EXPECT_NE(r.steps[0].detail.find("null MX"), std::string::npos);
  hop.mx_domain = "missing.example";  // unknown to the fake: NXDOMAIN
  r = resolve(dns, hop);
  ASSERT_EQ(r.steps.size(), 1u);
  EXPECT_NE(r.steps[0].detail.find("NXDOMAIN"), std::string::npos);
}

}  // namespace
}  // namespace mf::delivery
