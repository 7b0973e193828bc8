// Tests for src/ndr/ndr.cpp: RFC 3464 reports (parsed back with a small MIME splitter), the NDR
// sender (SPEC R-NDR-1) and the RFC 3461 NOTIFY decision.
#include "ndr/ndr.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mf::ndr {
namespace {

// ---- a small MIME splitter ----------------------------------------------------------------------

using Fields = std::vector<std::pair<std::string, std::string>>;  // name, unfolded value

struct Entity {
  std::string raw_headers;  // CRLF lines, as written
  Fields fields;
  std::string body;
};

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find("\r\n", pos);
    if (eol == std::string_view::npos) {
      out.emplace_back(text.substr(pos));
      break;
    }
    out.emplace_back(text.substr(pos, eol - pos));
    pos = eol + 2;
  }
  return out;
}

// RFC 5322 unfolding: a CRLF followed by WSP is removed.
Fields parse_fields(std::string_view raw) {
  Fields f;
  for (const auto& l : lines_of(raw)) {
    if (!l.empty() && (l[0] == ' ' || l[0] == '\t') && !f.empty()) {
      f.back().second += l;
      continue;
    }
    auto colon = l.find(':');
    if (colon == std::string::npos) continue;
    std::string v = l.substr(colon + 1);
    f.emplace_back(l.substr(0, colon), v);
  }
  for (auto& [n, v] : f) {
    std::size_t b = v.find_first_not_of(" \t");
    v = b == std::string::npos ? "" : v.substr(b);
  }
  return f;
}

Entity split_entity(std::string_view text) {
  Entity e;
  std::size_t sep = text.find("\r\n\r\n");
  if (text.substr(0, 2) == "\r\n") {
    e.body = std::string(text.substr(2));
    return e;
  }
  if (sep == std::string_view::npos) {
    e.raw_headers = std::string(text);
  } else {
    e.raw_headers = std::string(text.substr(0, sep + 2));
    e.body = std::string(text.substr(sep + 4));
  }
  e.fields = parse_fields(e.raw_headers);
  return e;
}

std::optional<std::string> get(const Fields& f, std::string_view name) {
  for (const auto& [n, v] : f) {
    if (iequals(n, name)) return v;
  }
  return std::nullopt;
}

std::size_t count(const Fields& f, std::string_view name) {
  std::size_t c = 0;
  for (const auto& [n, v] : f) c += iequals(n, name) ? 1 : 0;
  return c;
}

struct Mime {
  Entity top;
  std::string boundary;
  std::vector<Entity> parts;
  bool closed = false;
};

Mime split_mime(const std::string& msg) {
  Mime m;
  m.top = split_entity(msg);
  auto ct = get(m.top.fields, "Content-Type").value_or("");
  auto b = ct.find("boundary=\"");
  if (b == std::string::npos) return m;
  m.boundary = ct.substr(b + 10, ct.find('"', b + 10) - (b + 10));
  const std::string delim = "\r\n--" + m.boundary;
  std::string body = "\r\n" + m.top.body;
  std::size_t pos = body.find(delim);
  while (pos != std::string::npos) {
    std::size_t after = pos + delim.size();
    if (body.compare(after, 2, "--") == 0) {
      m.closed = true;
      break;
    }
    std::size_t start = body.find("\r\n", after) + 2;
    std::size_t next = body.find(delim, start);
    if (next == std::string::npos) break;
    m.parts.push_back(split_entity(std::string_view(body).substr(start, next - start)));
    pos = next;
  }
  return m;
}

// message/delivery-status body → groups of fields (per-message first).
std::vector<Fields> status_groups(const std::string& body) {
  std::vector<Fields> groups;
  std::string cur;
  for (const auto& l : lines_of(body)) {
    if (l.empty()) {
      if (!cur.empty()) groups.push_back(parse_fields(cur));
      cur.clear();
    } else {
      cur += l + "\r\n";
    }
  }
  if (!cur.empty()) groups.push_back(parse_fields(cur));
  return groups;
}

// ---- fixtures -----------------------------------------------------------------------------------

Address addr(std::string_view s, bool utf8 = false) { return Address::parse(s, utf8).value(); }

SysTime at(std::int64_t unix_seconds) { return SysTime{std::chrono::seconds{unix_seconds}}; }

constexpr std::string_view kOriginal =
    "Received: from client.example ([192.0.2.7])\r\n"
    "\tby mx.contoso.com; Tue, 1 Jul 2025 10:00:00 +0000\r\n"
    "From: Alice <alice@contoso.com>\r\n"
    "To: bob@fabrikam.com\r\n"
    "Subject: Quarterly numbers\r\n"
    "Message-ID: <abc@client.example>\r\n"
    "\r\n"
    "Hello Bob,\r\n"
    "the numbers are attached.\r\n";

Report base_report() {
  Report r;
  r.reporting_mta = "mx.contoso.com";
  r.from = "postmaster@contoso.com";
  r.to = addr("alice@contoso.com");
  r.original_envid = "ENV-42";
  r.original_message_id = "0123456789ABCDEFGHIJ";
  r.arrival = at(1751364000);  // Tue, 01 Jul 2025 10:00:00 +0000
  r.now = at(1751364600);      // Tue, 01 Jul 2025 10:10:00 +0000
  r.original = std::string(kOriginal);
  FailedRecipient f;
  f.address = addr("bob@fabrikam.com");
  f.orcpt = "rfc822;bob@fabrikam.com";
  f.status = "5.1.1";
  f.remote_mta = "mx1.fabrikam.com";
  f.diagnostic = "550 5.1.1 <bob@fabrikam.com>: user unknown";
  f.last_attempt = at(1751364300);  // 10:05:00
  r.recipients.push_back(f);
  return r;
}

void expect_well_formed_lines(const std::string& msg) {
  for (std::size_t i = 0; i < msg.size(); ++i) {
    if (msg[i] == '\r') {
      ASSERT_TRUE(i + 1 < msg.size() && msg[i + 1] == '\n') << "bare CR at " << i;
    } else if (msg[i] == '\n') {
      ASSERT_TRUE(i > 0 && msg[i - 1] == '\r') << "bare LF at " << i;
    }
  }
  ASSERT_TRUE(msg.size() >= 2 && msg.substr(msg.size() - 2) == "\r\n");
  for (const auto& l : lines_of(msg)) EXPECT_LE(l.size(), 998u) << l.substr(0, 60);
}

// ---- build(): structure -------------------------------------------------------------------------

TEST(NdrBuild, StructureHasThreePartsAndRequiredHeaders) {
  auto msg = build(base_report());
  expect_well_formed_lines(msg);
  auto m = split_mime(msg);
  const auto& h = m.top.fields;
  EXPECT_EQ(get(h, "From"), "Mail Delivery System <postmaster@contoso.com>");
  EXPECT_EQ(get(h, "To"), "<alice@contoso.com>");
  EXPECT_EQ(get(h, "Subject"), "Undeliverable: Quarterly numbers");
  EXPECT_EQ(get(h, "Date"), "Tue, 01 Jul 2025 10:10:00 +0000");
  EXPECT_EQ(get(h, "MIME-Version"), "1.0");
  EXPECT_EQ(get(h, "Auto-Submitted"), "auto-replied");
  auto mid = get(h, "Message-ID").value_or("");
  EXPECT_EQ(mid.front(), '<');
  EXPECT_NE(mid.find("@mx.contoso.com>"), std::string::npos) << mid;
  auto ct = get(h, "Content-Type").value_or("");
  EXPECT_EQ(ct.rfind("multipart/report; report-type=delivery-status;", 0), 0u) << ct;
  for (const char* name : {"From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type"}) {
    EXPECT_EQ(count(h, name), 1u) << name;
  }

  ASSERT_FALSE(m.boundary.empty());
  ASSERT_TRUE(m.closed);
  ASSERT_EQ(m.parts.size(), 3u);
  EXPECT_EQ(get(m.parts[0].fields, "Content-Type"), "text/plain; charset=utf-8");
  EXPECT_EQ(get(m.parts[1].fields, "Content-Type"), "message/delivery-status");
  EXPECT_EQ(get(m.parts[2].fields, "Content-Type"), "text/rfc822-headers");
  for (const auto& p : m.parts) EXPECT_EQ(p.body.find(m.boundary), std::string::npos);
  // The boundary occurs only on the delimiter lines (4) and in Content-Type (1).
  std::size_t n = 0;
  for (auto p = msg.find(m.boundary); p != std::string::npos; p = msg.find(m.boundary, p + 1)) ++n;
  EXPECT_EQ(n, 5u);
}

TEST(NdrBuild, PerMessageAndPerRecipientFields) {
  auto r = base_report();
  FailedRecipient second;
  second.address = addr("carol@fabrikam.com");
  second.status = "5.4.14";
  second.diagnostic = "Hop count exceeded - possible mail loop";
  r.recipients.push_back(second);
  auto m = split_mime(build(r));
  ASSERT_EQ(m.parts.size(), 3u);
  auto groups = status_groups(m.parts[1].body);
  ASSERT_EQ(groups.size(), 3u);

  EXPECT_EQ(get(groups[0], "Reporting-MTA"), "dns; mx.contoso.com");
  EXPECT_EQ(get(groups[0], "Original-Envelope-Id"), "ENV-42");
  EXPECT_EQ(get(groups[0], "X-Mailflow-Queue-ID"), "0123456789ABCDEFGHIJ");
  EXPECT_EQ(get(groups[0], "Arrival-Date"), "Tue, 01 Jul 2025 10:00:00 +0000");

  const auto& g1 = groups[1];
  EXPECT_EQ(get(g1, "Final-Recipient"), "rfc822; bob@fabrikam.com");
  EXPECT_EQ(get(g1, "Original-Recipient"), "rfc822;bob@fabrikam.com");
  EXPECT_EQ(get(g1, "Action"), "failed");
  EXPECT_EQ(get(g1, "Status"), "5.1.1");
  EXPECT_EQ(get(g1, "Remote-MTA"), "dns; mx1.fabrikam.com");
  EXPECT_EQ(get(g1, "Diagnostic-Code"), "smtp; 550 5.1.1 <bob@fabrikam.com>: user unknown");
  EXPECT_EQ(get(g1, "Last-Attempt-Date"), "Tue, 01 Jul 2025 10:05:00 +0000");
  EXPECT_FALSE(get(g1, "Will-Retry-Until"));

  const auto& g2 = groups[2];
  EXPECT_EQ(get(g2, "Final-Recipient"), "rfc822; carol@fabrikam.com");
  EXPECT_FALSE(get(g2, "Original-Recipient"));
  EXPECT_EQ(get(g2, "Status"), "5.4.14");
  EXPECT_FALSE(get(g2, "Remote-MTA"));
  EXPECT_EQ(get(g2, "Diagnostic-Code"), "X-mailflow; Hop count exceeded - possible mail loop");
  EXPECT_FALSE(get(g2, "Last-Attempt-Date"));
}

TEST(NdrBuild, HumanPartNamesRecipientsAndQuotesDiagnosticVerbatim) {
  auto r = base_report();
  auto m = split_mime(build(r));
  ASSERT_EQ(m.parts.size(), 3u);
  const auto& text = m.parts[0].body;
  EXPECT_NE(text.find("<bob@fabrikam.com>"), std::string::npos) << text;
  EXPECT_NE(text.find("550 5.1.1 <bob@fabrikam.com>: user unknown"), std::string::npos) << text;
  EXPECT_NE(text.find("mx1.fabrikam.com"), std::string::npos);
  EXPECT_EQ(text.find("Message expired"), std::string::npos);

  // A longer reply (under the line limit) is quoted on one line, unwrapped.
  std::string longer = "550-5.7.1 Message rejected  by policy:";
  while (longer.size() < 300) longer += " see https://fabrikam.example/help";
  r.recipients[0].diagnostic = longer;
  auto m2 = split_mime(build(r));
  EXPECT_NE(m2.parts.at(0).body.find("\r\n        " + longer + "\r\n"), std::string::npos) << m2.parts[0].body;
}

TEST(NdrBuild, ExpiredRecipientSaysMessageExpired) {
  auto r = base_report();
  r.recipients[0].status = "4.4.7";
  r.recipients[0].expired = true;
  r.recipients[0].diagnostic = "451 4.4.1 Connection timed out";
  auto m = split_mime(build(r));
  ASSERT_EQ(m.parts.size(), 3u);
  EXPECT_NE(m.parts[0].body.find("Message expired"), std::string::npos);
  auto groups = status_groups(m.parts[1].body);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(get(groups[1], "Action"), "failed");
  EXPECT_EQ(get(groups[1], "Status"), "4.4.7");
  EXPECT_FALSE(get(groups[1], "Will-Retry-Until"));
}

TEST(NdrBuild, InvalidStatusBecomesGenericPermanent) {
  auto r = base_report();
  r.recipients[0].status = "5.1.1\r\nBcc: x";
  auto groups = status_groups(split_mime(build(r)).parts.at(1).body);
  EXPECT_EQ(get(groups.at(1), "Status"), "5.0.0");
}

// ---- build(): hostile input ---------------------------------------------------------------------

TEST(NdrBuild, HostileReplyCannotInjectHeaders) {
  auto r = base_report();
  r.recipients[0].diagnostic = "550 x\r\nBcc: evil@x";
  r.recipients[0].remote_mta = "mx.evil\r\nBcc: evil@y";
  r.recipients[0].orcpt = "rfc822;a@b\r\nBcc: evil@z";
  r.from = "postmaster@contoso.com\r\nBcc: evil@w";
  r.original_envid = "E\nBcc: evil@v";
  r.original = "Subject: hi\rBcc: evil@u\r\n\r\nbody\r\n";  // a bare CR inside the Subject
  auto msg = build(r);
  expect_well_formed_lines(msg);
  auto m = split_mime(msg);
  ASSERT_EQ(m.parts.size(), 3u);
  EXPECT_FALSE(get(m.top.fields, "Bcc"));
  auto groups = status_groups(m.parts[1].body);
  for (const auto& g : groups) EXPECT_FALSE(get(g, "Bcc"));
  for (const auto& l : lines_of(m.top.raw_headers)) EXPECT_NE(l.rfind("Bcc", 0), 0u) << l;
  for (const auto& l : lines_of(m.parts[1].body)) EXPECT_NE(l.rfind("Bcc", 0), 0u) << l;
  for (const auto& l : lines_of(m.parts[0].body)) EXPECT_NE(l.rfind("Bcc", 0), 0u) << l;
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(get(groups[1], "Diagnostic-Code"), "smtp; 550 x Bcc: evil@x");
  EXPECT_EQ(get(groups[1], "Remote-MTA"), "dns; mx.evilBcc:evil@y");
}

TEST(NdrBuild, ControlAndEightBitOctetsDoNotReachStatusFields) {
  auto r = base_report();
  r.recipients[0].diagnostic = std::string("550 bad\x01\x7f \xc3\xa9t\xff end");
  auto m = split_mime(build(r));
  auto groups = status_groups(m.parts.at(1).body);
  EXPECT_EQ(get(groups.at(1), "Diagnostic-Code"), "smtp; 550 bad   ?t? end");
  for (char c : m.parts[1].body) EXPECT_LT(static_cast<unsigned char>(c), 0x80u);
}

TEST(NdrBuild, LongDiagnosticIsFoldedAndUnfoldsVerbatim) {
  auto r = base_report();
  std::string diag = "550 5.7.1";
  while (diag.size() < 3000) diag += " word" + std::to_string(diag.size());
  r.recipients[0].diagnostic = diag;
  FailedRecipient unbroken = r.recipients[0];
  unbroken.address = addr("dave@fabrikam.com");
  unbroken.diagnostic = "550 " + std::string(2500, 'x');  // no whitespace at all
  r.recipients.push_back(unbroken);
  auto msg = build(r);
  expect_well_formed_lines(msg);
  auto m = split_mime(msg);
  auto groups = status_groups(m.parts.at(1).body);
  ASSERT_EQ(groups.size(), 3u);
  EXPECT_EQ(get(groups[1], "Diagnostic-Code"), "smtp; " + diag);
  // A run without whitespace is hard-broken (CRLF + space): only the inserted spaces differ.
  auto hard = get(groups[2], "Diagnostic-Code").value_or("");
  std::string squeezed;
  for (char c : hard.substr(10)) {
    if (c != ' ') squeezed += c;
  }
  EXPECT_EQ(squeezed, std::string(2500, 'x'));
  EXPECT_EQ(hard.rfind("smtp; 550 x", 0), 0u);
}

// ---- build(): the attached original -------------------------------------------------------------

TEST(NdrBuild, RetHdrsAttachesHeaderSectionOnly) {
  auto m = split_mime(build(base_report()));
  ASSERT_EQ(m.parts.size(), 3u);
  std::string_view orig = kOriginal;
  auto headers = std::string(orig.substr(0, orig.find("\r\n\r\n") + 2));
  EXPECT_EQ(m.parts[2].body, headers);  // the CRLF before "--boundary" belongs to the delimiter
  EXPECT_EQ(m.parts[2].body.find("Hello Bob"), std::string::npos);
}

TEST(NdrBuild, RetFullAttachesWholeMessage) {
  auto r = base_report();
  r.return_full = true;
  auto m = split_mime(build(r));
  ASSERT_EQ(m.parts.size(), 3u);
  EXPECT_EQ(get(m.parts[2].fields, "Content-Type"), "message/rfc822");
  EXPECT_EQ(m.parts[2].body, std::string(kOriginal));
  EXPECT_NE(m.parts[0].body.find("The original message is attached"), std::string::npos);
}

TEST(NdrBuild, RetFullOverCapFallsBackToHeaders) {
  auto r = base_report();
  r.return_full = true;
  std::string line(900, 'a');
  while (r.original.size() <= kMaxFullOriginal) r.original += line + "\r\n";
  auto msg = build(r);
  EXPECT_LT(msg.size(), 16u * 1024);
  auto m = split_mime(msg);
  ASSERT_EQ(m.parts.size(), 3u);
  EXPECT_EQ(get(m.parts[2].fields, "Content-Type"), "text/rfc822-headers");
}

TEST(NdrBuild, RetFullWithOverlongLineFallsBackToHeaders) {
  auto r = base_report();
  r.return_full = true;
  r.original += std::string(1200, 'b') + "\r\n";
  auto m = split_mime(build(r));
  EXPECT_EQ(get(m.parts.at(2).fields, "Content-Type"), "text/rfc822-headers");
}

TEST(NdrBuild, HeadersOnlyOriginalIsAttachedWhole) {
  auto r = base_report();
  r.original = "From: a@b.example\r\nSubject: only headers\r\n";
  auto m = split_mime(build(r));
  ASSERT_EQ(m.parts.size(), 3u);
  EXPECT_EQ(m.parts[2].body, r.original);
  EXPECT_EQ(get(m.top.fields, "Subject"), "Undeliverable: only headers");
}

TEST(NdrBuild, OriginalWithoutSeparatorOrFinalNewline) {
  auto r = base_report();
  r.original = "From: a@b.example\nSubject: bare LF\nX-Last: no newline";
  auto msg = build(r);
  expect_well_formed_lines(msg);
  auto m = split_mime(msg);
  ASSERT_EQ(m.parts.size(), 3u);
  EXPECT_EQ(m.parts[2].body, "From: a@b.example\r\nSubject: bare LF\r\nX-Last: no newline\r\n");
  EXPECT_EQ(get(m.top.fields, "Subject"), "Undeliverable: bare LF");
}

TEST(NdrBuild, OriginalStartingWithEmptyLineHasNoHeaders) {
  auto r = base_report();
  r.original = "\r\nSubject: this is body text\r\n";
  auto m = split_mime(build(r));
  ASSERT_EQ(m.parts.size(), 3u);
  EXPECT_EQ(m.parts[2].body, "");
  EXPECT_EQ(get(m.top.fields, "Subject"), "Delivery Status Notification (Failure)");
}

TEST(NdrBuild, BoundaryAvoidsContentThatContainsIt) {
  auto r = base_report();
  // Build once to learn the boundary, then put it (with any hash) into the original: the builder
  // must pick another one. The prefix is stable, so include it plainly too.
  auto first = split_mime(build(r));
  r.original = "Subject: --" + first.boundary + "\r\nX-B: =_mailflow-ndr-\r\n\r\n--" + first.boundary + "--\r\n";
  r.return_full = true;
  auto msg = build(r);
  auto m = split_mime(msg);
  ASSERT_EQ(m.parts.size(), 3u);
  for (const auto& p : m.parts) EXPECT_EQ(p.body.find(m.boundary), std::string::npos);
  EXPECT_EQ(get(m.parts[2].fields, "Content-Type"), "message/rfc822");
}

// ---- build(): Subject ---------------------------------------------------------------------------

struct SubjectCase {
  const char* original;
  const char* subject;
};

class NdrSubject : public ::testing::TestWithParam<SubjectCase> {};

TEST_P(NdrSubject, Table) {
  auto r = base_report();
  r.original = GetParam().original;
  auto m = split_mime(build(r));
  EXPECT_EQ(get(m.top.fields, "Subject"), GetParam().subject);
}

INSTANTIATE_TEST_SUITE_P(
    Variants, NdrSubject,
    ::testing::Values(
        SubjectCase{"From: a@b\r\n\r\nbody\r\n", "Delivery Status Notification (Failure)"},
        SubjectCase{"Subject:   \r\n\r\nbody\r\n", "Delivery Status Notification (Failure)"},
        SubjectCase{"Subject: Hello\r\n\r\n", "Undeliverable: Hello"},
        SubjectCase{"SUBJECT:Hello\r\n\r\n", "Undeliverable: Hello"},
        SubjectCase{"Subject: a long\r\n subject line\r\n\r\n", "Undeliverable: a long subject line"},
        SubjectCase{"Subject: =?utf-8?B?w6lsw6k=?=\r\n\r\n", "Undeliverable: =?utf-8?B?w6lsw6k=?="},
        SubjectCase{"Subject: caf\xc3\xa9\r\n\r\n", "Undeliverable message"},
        SubjectCase{"Subject: bell\x07\r\n\r\n", "Undeliverable message"},
        SubjectCase{"X-Subject: no\r\nSubject: first\r\nSubject: second\r\n\r\n", "Undeliverable: first"}));

TEST(NdrBuild, LongSubjectIsFolded) {
  auto r = base_report();
  std::string subject;
  while (subject.size() < 2000) subject += "lorem ipsum ";
  subject.pop_back();
  r.original = "Subject: " + subject + "\r\n\r\n";
  auto msg = build(r);
  expect_well_formed_lines(msg);
  EXPECT_EQ(get(split_mime(msg).top.fields, "Subject"), "Undeliverable: " + subject);
}

// ---- build(): internationalised addresses -------------------------------------------------------

TEST(NdrBuild, Utf8RecipientUsesUtf8AddressType) {
  auto r = base_report();
  r.recipients[0].address = addr("j\xc3\xb6rg@fabrikam.com", true);
  r.recipients[0].orcpt = "utf-8;j\xc3\xb6rg@fabrikam.com";
  auto m = split_mime(build(r));
  auto groups = status_groups(m.parts.at(1).body);
  EXPECT_EQ(get(groups.at(1), "Final-Recipient"), "utf-8; j\\x{F6}rg@fabrikam.com");
  EXPECT_EQ(get(groups.at(1), "Original-Recipient"), "utf-8;j\\x{F6}rg@fabrikam.com");
  for (char c : m.parts[1].body) EXPECT_LT(static_cast<unsigned char>(c), 0x80u);
  EXPECT_NE(m.parts[0].body.find("j\xc3\xb6rg@fabrikam.com"), std::string::npos);
  EXPECT_EQ(get(m.top.fields, "Content-Transfer-Encoding"), "8bit");
}

TEST(NdrBuild, MessageIdsDiffer) {
  auto r = base_report();
  EXPECT_NE(get(split_mime(build(r)).top.fields, "Message-ID"), get(split_mime(build(r)).top.fields, "Message-ID"));
}

// ---- sender_for ---------------------------------------------------------------------------------

config::Snapshot snapshot() {
  config::Snapshot s;
  s.service.hostname = "mx.example";
  config::Organization contoso;
  contoso.name = "contoso";
  contoso.accepted_domains.push_back({Domain::parse("contoso.com").value(), false, config::DomainType::authoritative});
  contoso.accepted_domains.push_back({Domain::parse("contoso.net").value(), false, config::DomainType::authoritative});
  config::Organization fabrikam;
  fabrikam.name = "fabrikam";
  fabrikam.accepted_domains.push_back({Domain::parse("fabrikam.com").value(), true, config::DomainType::internal_relay});
  config::Organization empty;
  empty.name = "empty";
  s.organizations = {contoso, fabrikam, empty};
  return s;
}

TEST(NdrSender, OrganizationFirstAcceptedDomain) {
  EXPECT_EQ(sender_for(snapshot(), 0), "postmaster@contoso.com");
}

TEST(NdrSender, WildcardEntryUsesTheDomainItself) {
  EXPECT_EQ(sender_for(snapshot(), 1), "postmaster@fabrikam.com");
}

TEST(NdrSender, NoOrganizationUsesMailerDaemonAtHostname) {
  EXPECT_EQ(sender_for(snapshot(), std::nullopt), "MAILER-DAEMON@mx.example");
  EXPECT_EQ(sender_for(snapshot(), 2), "MAILER-DAEMON@mx.example");   // no accepted domains
  EXPECT_EQ(sender_for(snapshot(), 99), "MAILER-DAEMON@mx.example");  // out of range
}

// ---- wants_ndr ----------------------------------------------------------------------------------

struct NotifyCase {
  const char* name;
  bool null_sender;
  unsigned notify;
  bool wants;
};

class NdrWants : public ::testing::TestWithParam<NotifyCase> {};

TEST_P(NdrWants, Table) {
  const auto& c = GetParam();
  Envelope env;
  if (!c.null_sender) env.sender = addr("alice@contoso.com");
  EnvelopeRecipient rcpt{addr("bob@fabrikam.com"), c.notify, ""};
  env.recipients.push_back(rcpt);
  EXPECT_EQ(wants_ndr(env, rcpt), c.wants);
}

INSTANTIATE_TEST_SUITE_P(
    Rfc3461, NdrWants,
    ::testing::Values(NotifyCase{"NullSender", true, notify_none, false},
                      NotifyCase{"NullSenderFailure", true, notify_failure, false},
                      NotifyCase{"Unset", false, notify_none, true},
                      NotifyCase{"Never", false, notify_never, false},
                      NotifyCase{"SuccessOnly", false, notify_success, false},
                      NotifyCase{"DelayOnly", false, notify_delay, false},
                      NotifyCase{"Failure", false, notify_failure, true},
                      NotifyCase{"DelayFailure", false, notify_delay | notify_failure, true},
                      NotifyCase{"SuccessFailure", false, notify_success | notify_failure, true}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace mf::ndr
