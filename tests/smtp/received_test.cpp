// Tests for src/smtp/received.cpp: the Received: header, the date, HELO sanitising and the hop count.
#include "smtp/received.hpp"

#include <gtest/gtest.h>

namespace mf::smtp {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

TEST(Rfc5322Date, FormatsUtc) {
  EXPECT_EQ(rfc5322_date(system_clock::time_point(seconds(0))), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(system_clock::time_point(seconds(1704164645))), "Tue, 02 Jan 2024 03:04:05 +0000");
  EXPECT_EQ(rfc5322_date(system_clock::time_point(seconds(951782399))), "Mon, 28 Feb 2000 23:59:59 +0000");
  EXPECT_EQ(rfc5322_date(system_clock::time_point(seconds(951868800))), "Wed, 01 Mar 2000 00:00:00 +0000");
  EXPECT_EQ(rfc5322_date(system_clock::time_point(seconds(1704164645)) + std::chrono::milliseconds(999)),
            "Tue, 02 Jan 2024 03:04:05 +0000");
}

struct HeloCase {
  std::string in;
  std::string out;
};

class SanitizeHelo : public ::testing::TestWithParam<HeloCase> {};

TEST_P(SanitizeHelo, Table) { EXPECT_EQ(sanitize_helo(GetParam().in), GetParam().out); }

INSTANTIATE_TEST_SUITE_P(
    A27, SanitizeHelo,
    ::testing::Values(
        HeloCase{"client.example", "client.example"}, HeloCase{"[192.0.2.1]", "[192.0.2.1]"},
        HeloCase{"[IPv6:2001:db8::1]", "[IPv6:2001:db8::1]"}, HeloCase{"", "unknown"},
        HeloCase{"two words", "unknown"}, HeloCase{"x(y)", "unknown"}, HeloCase{"a;b", "unknown"},
        HeloCase{"a\tb", "unknown"}, HeloCase{"a\x01" "b", "unknown"}, HeloCase{"\xC3\xA9t\xC3\xA9", "unknown"},
        HeloCase{"q\"x", "unknown"}, HeloCase{"back\\slash", "unknown"},
        HeloCase{std::string(255, 'h'), std::string(255, 'h')}, HeloCase{std::string(256, 'h'), "unknown"}));

TEST(ReceivedProtocol, Table) {
  // (esmtp, tls, authenticated, smtputf8)
  EXPECT_EQ(received_protocol(false, false, false, false), "SMTP");
  EXPECT_EQ(received_protocol(false, true, true, true), "SMTP");
  EXPECT_EQ(received_protocol(true, false, false, false), "ESMTP");
  EXPECT_EQ(received_protocol(true, true, false, false), "ESMTPS");
  EXPECT_EQ(received_protocol(true, false, true, false), "ESMTPA");
  EXPECT_EQ(received_protocol(true, true, true, false), "ESMTPSA");
  EXPECT_EQ(received_protocol(true, false, false, true), "UTF8SMTP");
  EXPECT_EQ(received_protocol(true, true, false, true), "UTF8SMTPS");
  EXPECT_EQ(received_protocol(true, false, true, true), "UTF8SMTPA");
  EXPECT_EQ(received_protocol(true, true, true, true), "UTF8SMTPSA");
}

Envelope envelope_with(std::initializer_list<const char*> rcpts) {
  Envelope e;
  for (const char* r : rcpts) e.recipients.push_back(EnvelopeRecipient{*Address::parse(r), notify_none, ""});
  return e;
}

const ReceivedFields kFields{"mx.test.example", "ID0001", "ESMTP", system_clock::time_point(seconds(1704164645))};

TEST(ReceivedHeader, OneRecipient) {
  ConnectionFacts c;
  c.helo = "client.example";
  c.client_ip = "192.0.2.10";
  EXPECT_EQ(received_header(c, envelope_with({"bob@t.example"}), kFields),
            "Received: from client.example ([192.0.2.10])\r\n"
            "\tby mx.test.example (mailflow) with ESMTP id ID0001\r\n"
            "\tfor <bob@t.example>; Tue, 02 Jan 2024 03:04:05 +0000\r\n");
}

TEST(ReceivedHeader, SeveralRecipientsAndTls) {
  ConnectionFacts c;
  c.helo = "bad helo";  // sanitised on the way in
  c.client_ip = "2001:db8::1";
  c.tls = true;
  c.tls_version = "TLSv1.3";
  c.tls_cipher = "TLS_AES_128_GCM_SHA256";
  ReceivedFields f = kFields;
  f.proto = "ESMTPS";
  EXPECT_EQ(received_header(c, envelope_with({"a@t.example", "b@t.example"}), f),
            "Received: from unknown ([2001:db8::1])\r\n"
            "\tby mx.test.example (mailflow) with ESMTPS id ID0001\r\n"
            "\t(version=TLSv1.3 cipher=TLS_AES_128_GCM_SHA256); Tue, 02 Jan 2024 03:04:05 +0000\r\n");
  c.tls = false;
  f.proto = "ESMTP";
  EXPECT_EQ(received_header(c, envelope_with({"a@t.example", "b@t.example"}), f),
            "Received: from unknown ([2001:db8::1])\r\n"
            "\tby mx.test.example (mailflow) with ESMTP id ID0001; Tue, 02 Jan 2024 03:04:05 +0000\r\n");
}

TEST(CountReceivedHeaders, OnlyTheHeaderSection) {
  EXPECT_EQ(count_received_headers(""), 0u);
  EXPECT_EQ(count_received_headers("Received: a\r\nreceived: b\r\nRECEIVED:c\r\nSubject: x\r\n\r\nReceived: body\r\n"),
            3u);
  EXPECT_EQ(count_received_headers("\r\nReceived: a\r\n"), 0u);              // no header section
  EXPECT_EQ(count_received_headers("X-Received: a\r\nReceived-SPF: b\r\n"), 0u);  // other fields
  EXPECT_EQ(count_received_headers("Received: a\r\n\tcontinued\r\nReceived: b"), 2u);
}

}  // namespace
}  // namespace mf::smtp
