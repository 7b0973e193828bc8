// Tests for src/routing/firewall.cpp: the R-IN-8 header firewall for X-MailFlow-Organization-*.
#include "config/config.hpp"
#include "routing/firewall.hpp"

#include <gtest/gtest.h>

namespace mf::routing {
namespace {

const char* kConfig = R"(
service:
  hostname: mx.cloud.test
  listeners: [{name: mx, address: "127.0.0.1:2525"}]
organizations:
  - name: contoso
    accepted_domains: [{domain: contoso.com}]
    recipients: [{type: mailbox, address: david@contoso.com}]
    inbound_connectors:
      - {name: From on-premises, connector_type: on_premises, tls_sender_certificate_name: mail.contoso.com}
)";

std::shared_ptr<const config::Snapshot> snapshot() {
  static auto loaded = config::load_string(kConfig, "/tmp/firewall_test.yaml");
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) ADD_FAILURE() << e.str();
  }
  return loaded.snapshot;
}

const std::string kMessage =
    "Received: from client by mx.cloud.test\r\n"
    "\twith ESMTP id 1\r\n"
    "X-MailFlow-Organization-AuthAs: Internal\r\n"
    "From: a@internet.example\r\n"
    "x-mailflow-organization-forged: yes\r\n"
    " folded part\r\n"
    "Subject: X-MailFlow-Organization-AuthAs: Internal\r\n"
    "\r\n"
    "X-MailFlow-Organization-AuthAs: body text stays\r\n";

Envelope to_david() {
  Envelope e;
  e.sender = *Address::parse("a@internet.example");
  e.recipients.push_back(EnvelopeRecipient{*Address::parse("david@contoso.com"), notify_none, {}});
  return e;
}

TEST(HeaderFirewall, R_IN_8_InternetMailLosesForgedMarkersAndGetsTheServices) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  ConnectionFacts conn;
  conn.client_ip = "192.0.2.9";
  const std::string out = firewall_received_message(*snap, conn, to_david(), kMessage);
  EXPECT_EQ(out,
            "Received: from client by mx.cloud.test\r\n"
            "\twith ESMTP id 1\r\n"
            "X-MailFlow-Organization-Id: contoso\r\n"
            "X-MailFlow-Organization-AuthAs: Anonymous\r\n"
            "X-MailFlow-Organization-MessageDirectionality: Incoming\r\n"
            "X-MailFlow-Organization-Attribution: recipient_domain\r\n"
            "From: a@internet.example\r\n"
            "Subject: X-MailFlow-Organization-AuthAs: Internal\r\n"
            "\r\n"
            "X-MailFlow-Organization-AuthAs: body text stays\r\n");
}

TEST(HeaderFirewall, R_IN_8_OnPremisesConnectorKeepsMarkersAndOverwritesTheServices) {
  auto snap = snapshot();
  ASSERT_TRUE(snap);
  ConnectionFacts conn;
  conn.client_ip = "192.0.2.9";
  conn.tls = true;
  conn.client_cert_verified = true;
  conn.client_cert_names = {"mail.contoso.com"};
  const std::string out = firewall_received_message(*snap, conn, to_david(), kMessage);
  // The foreign marker from on-premises stays; AuthAs is the service's own value, once.
  EXPECT_NE(out.find("x-mailflow-organization-forged: yes\r\n folded part\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("X-MailFlow-Organization-AuthAs: Internal\r\n"), std::string::npos);
  EXPECT_EQ(out.find("X-MailFlow-Organization-AuthAs:"), out.rfind("X-MailFlow-Organization-AuthAs: Internal\r\nX"))
      << out;
  EXPECT_NE(out.find("X-MailFlow-Organization-Attribution: certificate; connector=From on-premises\r\n"),
            std::string::npos);
  EXPECT_NE(out.find("X-MailFlow-Organization-MessageDirectionality: Originating\r\n"), std::string::npos);
}

TEST(HeaderFirewall, R_IN_8_NdrOriginalLosesEveryMarker) {
  const std::string out = strip_organization_headers(kMessage);
  EXPECT_EQ(out,
            "Received: from client by mx.cloud.test\r\n"
            "\twith ESMTP id 1\r\n"
            "From: a@internet.example\r\n"
            "Subject: X-MailFlow-Organization-AuthAs: Internal\r\n"
            "\r\n"
            "X-MailFlow-Organization-AuthAs: body text stays\r\n");
}

TEST(HeaderFirewall, BareLfIsNotALineEndAndNoSeparatorMeansAllHeaders) {
  // "A: 1\nX-MailFlow-Organization-Id: x" is one line (only CRLF ends a line): kept as is.
  EXPECT_EQ(strip_organization_headers("A: 1\nX-MailFlow-Organization-Id: x\r\nB: 2\r\n"),
            "A: 1\nX-MailFlow-Organization-Id: x\r\nB: 2\r\n");
  EXPECT_EQ(strip_organization_headers("A: 1\r\nX-MailFlow-Organization-Id: x"), "A: 1\r\n");
  EXPECT_EQ(apply_header_firewall("", false, {{"X-MailFlow-Organization-Id", "c"}}),
            "X-MailFlow-Organization-Id: c\r\n");
}

TEST(HeaderFirewall, StampsCannotInjectLines) {
  auto out = apply_header_firewall("Received: x\r\n\r\nbody", false, {{"X-MailFlow-Organization-Id", "a\r\nBcc: evil"}});
  EXPECT_EQ(out, "Received: x\r\nX-MailFlow-Organization-Id: aBcc: evil\r\n\r\nbody");
}

}  // namespace
}  // namespace mf::routing
