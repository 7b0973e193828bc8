// Tests for src/routing/edits.cpp: apply_header_edits(), the header rewriting of the rule actions
// set_header / remove_header / prepend_subject (R-RULE-3).
#include "routing/edits.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mf::routing {
namespace {

const std::string kBody = "Body line 1\r\nSubject: not a header\r\n\r\n.\r\n";
const std::string kMessage =
    "Received: from a\r\n\tby b; Mon, 1 Jan 2024\r\n"
    "From: a@partner.example\r\n"
    "X-Spam: yes\r\n"
    "Subject: Hello\r\n  world\r\n"
    "x-spam: folded\r\n second line\r\n"
    "To: d@contoso.test\r\n"
    "\r\n" + kBody;

// No bare CR and no bare LF anywhere in `s`.
bool only_crlf(const std::string& s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' && (i + 1 >= s.size() || s[i + 1] != '\n')) return false;
    if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) return false;
  }
  return true;
}

bool ends_with_body(const std::string& out, const std::string& body) {
  return out.size() >= body.size() && out.compare(out.size() - body.size(), body.size(), body) == 0;
}

HeaderEdits remove(std::string name) {
  HeaderEdits e;
  e.remove_headers.push_back(std::move(name));
  return e;
}

HeaderEdits set(std::string name, std::string value) {
  HeaderEdits e;
  e.set_headers.push_back({std::move(name), std::move(value)});
  return e;
}

HeaderEdits prepend(std::string prefix) {
  HeaderEdits e;
  e.prepend_subject = std::move(prefix);
  return e;
}

TEST(HeaderEdits, R_RULE_3_EmptyEditsReturnDataUnchanged) {
  EXPECT_EQ(apply_header_edits(kMessage, HeaderEdits{}), kMessage);
  const std::string odd = "A: 1\nB\r\r\n\r\nbody\n";
  EXPECT_EQ(apply_header_edits(odd, HeaderEdits{}), odd);
}

TEST(HeaderEdits, R_RULE_3_RemoveHeaderRemovesEveryFieldWithFolding) {
  const std::string out = apply_header_edits(kMessage, remove("X-SPAM"));
  EXPECT_EQ(out,
            "Received: from a\r\n\tby b; Mon, 1 Jan 2024\r\n"
            "From: a@partner.example\r\n"
            "Subject: Hello\r\n  world\r\n"
            "To: d@contoso.test\r\n"
            "\r\n" + kBody);
  EXPECT_TRUE(only_crlf(out));
}

TEST(HeaderEdits, R_RULE_3_RemoveHeaderAbsentIsNoChange) {
  EXPECT_EQ(apply_header_edits(kMessage, remove("X-Nothing")), kMessage);
}

TEST(HeaderEdits, R_RULE_3_RemoveFoldedFirstField) {
  EXPECT_EQ(apply_header_edits(kMessage, remove("received")),
            "From: a@partner.example\r\n"
            "X-Spam: yes\r\n"
            "Subject: Hello\r\n  world\r\n"
            "x-spam: folded\r\n second line\r\n"
            "To: d@contoso.test\r\n"
            "\r\n" + kBody);
}

TEST(HeaderEdits, R_RULE_3_SetHeaderReplacesAllAtFirstPosition) {
  const std::string out = apply_header_edits(kMessage, set("X-Spam", "no"));
  EXPECT_EQ(out,
            "Received: from a\r\n\tby b; Mon, 1 Jan 2024\r\n"
            "From: a@partner.example\r\n"
            "X-Spam: no\r\n"
            "Subject: Hello\r\n  world\r\n"
            "To: d@contoso.test\r\n"
            "\r\n" + kBody);
}

TEST(HeaderEdits, R_RULE_3_SetHeaderAppendsAtEndOfHeaderSection) {
  const std::string out = apply_header_edits(kMessage, set("X-Routed", "yes"));
  const std::string headers = kMessage.substr(0, kMessage.find("\r\n\r\n") + 2);
  EXPECT_EQ(out, headers + "X-Routed: yes\r\n\r\n" + kBody);
}

TEST(HeaderEdits, R_RULE_3_SetHeaderTwiceSameNameLastWins) {
  HeaderEdits e;
  e.set_headers = {{"X-A", "1"}, {"x-a", "2"}};
  EXPECT_EQ(apply_header_edits("From: f\r\n\r\nb", e), "From: f\r\nx-a: 2\r\n\r\nb");
  EXPECT_EQ(apply_header_edits("X-A: 0\r\nFrom: f\r\n\r\nb", e), "x-a: 2\r\nFrom: f\r\n\r\nb");
}

TEST(HeaderEdits, R_RULE_3_PrependSubjectKeepsFolding) {
  const std::string out = apply_header_edits(kMessage, prepend("[EXT] "));
  EXPECT_EQ(out,
            "Received: from a\r\n\tby b; Mon, 1 Jan 2024\r\n"
            "From: a@partner.example\r\n"
            "X-Spam: yes\r\n"
            "Subject: [EXT] Hello\r\n  world\r\n"
            "x-spam: folded\r\n second line\r\n"
            "To: d@contoso.test\r\n"
            "\r\n" + kBody);
}

TEST(HeaderEdits, R_RULE_3_PrependSubjectFoldRightAfterColon) {
  EXPECT_EQ(apply_header_edits("subject:\r\n  Hello\r\n there\r\n\r\nb", prepend("[X] ")),
            "subject: [X] Hello\r\n there\r\n\r\nb");
  EXPECT_EQ(apply_header_edits("Subject:\r\n\r\nb", prepend("[X] ")), "Subject: [X] \r\n\r\nb");
}

TEST(HeaderEdits, R_RULE_3_PrependSubjectAbsentSubjectIsAdded) {
  EXPECT_EQ(apply_header_edits("From: f\r\n\r\nbody", prepend("[EXT] ")), "From: f\r\nSubject: [EXT] \r\n\r\nbody");
}

TEST(HeaderEdits, R_RULE_3_PrependSubjectEverySubjectField) {
  EXPECT_EQ(apply_header_edits("Subject: a\r\nSUBJECT: b\r\n\r\n", prepend("[P] ")),
            "Subject: [P] a\r\nSUBJECT: [P] b\r\n\r\n");
}

TEST(HeaderEdits, R_RULE_3_SetSubjectThenPrepend) {
  HeaderEdits e;
  e.set_headers = {{"Subject", "New"}};
  e.prepend_subject = "[C] ";
  EXPECT_EQ(apply_header_edits("Subject: Old\r\nFrom: f\r\n\r\nb", e), "Subject: [C] New\r\nFrom: f\r\n\r\nb");
  EXPECT_EQ(apply_header_edits("From: f\r\n\r\nb", e), "From: f\r\nSubject: [C] New\r\n\r\nb");
}

TEST(HeaderEdits, R_RULE_3_RemoveSubjectThenPrependAddsOne) {
  HeaderEdits e;
  e.remove_headers = {"Subject"};
  e.prepend_subject = "[C] ";
  EXPECT_EQ(apply_header_edits("Subject: Old\r\nFrom: f\r\n\r\nb", e), "From: f\r\nSubject: [C] \r\n\r\nb");
}

TEST(HeaderEdits, R_RULE_3_AllEditsTogetherBodyUntouched) {
  HeaderEdits e;
  e.remove_headers = {"Received", "X-Spam"};
  e.set_headers = {{"To", "other@contoso.test"}, {"X-New", "1"}};
  e.prepend_subject = "[ALL] ";
  const std::string out = apply_header_edits(kMessage, e);
  EXPECT_EQ(out,
            "From: a@partner.example\r\n"
            "Subject: [ALL] Hello\r\n  world\r\n"
            "To: other@contoso.test\r\n"
            "X-New: 1\r\n"
            "\r\n" + kBody);
  EXPECT_TRUE(ends_with_body(out, "\r\n\r\n" + kBody));
  EXPECT_TRUE(only_crlf(out));
}

TEST(HeaderEdits, R_RULE_3_BodyWithHeaderLikeLinesAndBinaryUntouched) {
  std::string body = "X-Spam: in body\r\nSubject: body\r\n";
  body += std::string("\0\xff\n\r raw", 9);
  const std::string msg = "X-Spam: 1\r\n\r\n" + body;
  HeaderEdits e = remove("X-Spam");
  e.prepend_subject = "[B] ";
  EXPECT_EQ(apply_header_edits(msg, e), "Subject: [B] \r\n\r\n" + body);
}

TEST(HeaderEdits, R_RULE_3_NoSeparatorIsAllHeaders) {
  EXPECT_EQ(apply_header_edits("A: 1\r\nB: 2\r\n", set("C", "3")), "A: 1\r\nB: 2\r\nC: 3\r\n");
  // Last line without CRLF: completed before the appended field, never a bare CR/LF.
  std::string out = apply_header_edits("A: 1\r\nB: 2", set("C", "3"));
  EXPECT_EQ(out, "A: 1\r\nB: 2\r\nC: 3\r\n");
  out = apply_header_edits("A: 1\r", prepend("[X] "));
  EXPECT_EQ(out, "A: 1\r\nSubject: [X] \r\n");
  EXPECT_TRUE(only_crlf(out));
  EXPECT_EQ(apply_header_edits("A: 1\r\nB: 2", remove("b")), "A: 1\r\n");
  EXPECT_EQ(apply_header_edits("Subject: x", prepend("[X] ")), "Subject: [X] x");
}

TEST(HeaderEdits, R_RULE_3_EmptyMessageAndEmptyHeaderSection) {
  EXPECT_EQ(apply_header_edits("", set("X-A", "1")), "X-A: 1\r\n");
  EXPECT_EQ(apply_header_edits("\r\nbody", set("X-A", "1")), "X-A: 1\r\n\r\nbody");
  EXPECT_EQ(apply_header_edits("\r\nbody", remove("X-A")), "\r\nbody");
}

TEST(HeaderEdits, R_RULE_3_EditTextCannotInjectLineBreaks) {
  HeaderEdits e;
  e.set_headers = {{"X-A\r\n", "v1\r\nBcc: evil@x.example\n"}};
  e.prepend_subject = "[\rX\n] ";
  const std::string out = apply_header_edits("From: f\r\n\r\nb", e);
  EXPECT_EQ(out, "From: f\r\nX-A: v1Bcc: evil@x.example\r\nSubject: [X] \r\n\r\nb");
  EXPECT_TRUE(only_crlf(out));
}

TEST(HeaderEdits, R_RULE_3_BareLfInHeaderDoesNotCrash) {
  // Only CRLF ends a line: "A: 1\nX-Spam: 2" is one field named A, so it survives a removal of X-Spam.
  const std::string msg = "A: 1\nX-Spam: 2\r\nX-Spam: 3\r\n\r\nbody\n";
  EXPECT_EQ(apply_header_edits(msg, remove("X-Spam")), "A: 1\nX-Spam: 2\r\n\r\nbody\n");
  EXPECT_EQ(apply_header_edits("\n\n\n", set("X", "1")), "\n\n\n\r\nX: 1\r\n");
}

TEST(HeaderEdits, R_RULE_3_LinesThatAreNotFieldsAreKept) {
  const std::string msg = " orphan\r\nnot a field\r\nX-A: 1\r\n\r\nb";
  EXPECT_EQ(apply_header_edits(msg, remove("X-A")), " orphan\r\nnot a field\r\n\r\nb");
}

}  // namespace
}  // namespace mf::routing
