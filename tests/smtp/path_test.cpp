// Tests for src/smtp/path.cpp: MAIL/RCPT paths, ESMTP parameters, xtext (security catalogue A12-A26).
#include "smtp/path.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mf::smtp {
namespace {

// ---- xtext, SIZE, NOTIFY -------------------------------------------------------------------------

struct XtextCase {
  std::string in;
  bool ok;
  std::string out;
};

class Xtext : public ::testing::TestWithParam<XtextCase> {};

TEST_P(Xtext, Table) {
  const auto& c = GetParam();
  auto r = decode_xtext(c.in);
  ASSERT_EQ(r.has_value(), c.ok) << c.in;
  if (c.ok) {
    EXPECT_EQ(*r, c.out);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc3461, Xtext,
    ::testing::Values(
        XtextCase{"abc", true, "abc"},
        XtextCase{"", true, ""},
        XtextCase{"a+2Bb", true, "a+b"},
        XtextCase{"+3D", true, "="},
        XtextCase{"a+2bb", true, "a+b"},               // lower-case hex tolerated
        XtextCase{"u+40d.example", true, "u@d.example"},
        XtextCase{"+C3+BC", true, "\xC3\xBC"},         // UTF-8 "ü"
        XtextCase{"+0D+0A", false, ""},                // catalogue A16: decoded CR LF
        XtextCase{"a+0Ab", false, ""},
        XtextCase{"+00", false, ""},                   // decoded NUL
        XtextCase{"+09", false, ""},                   // decoded TAB (a control character)
        XtextCase{"+7F", false, ""},                   // DEL
        XtextCase{"+ZZ", false, ""},                   // bad hex
        XtextCase{"+4", false, ""},                    // truncated
        XtextCase{"+", false, ""},
        XtextCase{"a=b", false, ""},                   // '=' must be encoded
        XtextCase{"a b", false, ""},
        XtextCase{"+C3", false, ""},                   // decodes to invalid UTF-8
        XtextCase{"\xC3\xBC", false, ""}));            // raw 8-bit is not xtext

struct SizeCase {
  const char* in;
  bool ok;
  std::uint64_t value;
};

class SizeValue : public ::testing::TestWithParam<SizeCase> {};

TEST_P(SizeValue, Table) {
  const auto& c = GetParam();
  auto r = parse_size_value(c.in);
  ASSERT_EQ(r.has_value(), c.ok) << c.in;
  if (c.ok) {
    EXPECT_EQ(*r, c.value);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc1870, SizeValue,
    ::testing::Values(
        SizeCase{"0", true, 0}, SizeCase{"12345", true, 12345},
        SizeCase{"18446744073709551615", true, 18446744073709551615ull},
        SizeCase{"18446744073709551616", false, 0},    // catalogue A13: 2^64, no wrap-around
        SizeCase{"99999999999999999999", false, 0},    // catalogue A13
        SizeCase{"000000000000000000001", false, 0},   // 21 digits
        SizeCase{"abc", false, 0}, SizeCase{"", false, 0}, SizeCase{"-1", false, 0},
        SizeCase{"+1", false, 0}, SizeCase{"1 ", false, 0}, SizeCase{"1e6", false, 0}));

struct NotifyCase {
  const char* in;
  bool ok;
  unsigned flags;
};

class Notify : public ::testing::TestWithParam<NotifyCase> {};

TEST_P(Notify, Table) {
  const auto& c = GetParam();
  auto r = parse_notify(c.in);
  ASSERT_EQ(r.has_value(), c.ok) << c.in;
  if (c.ok) {
    EXPECT_EQ(*r, c.flags);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc3461, Notify,
    ::testing::Values(
        NotifyCase{"NEVER", true, notify_never}, NotifyCase{"never", true, notify_never},
        NotifyCase{"SUCCESS", true, notify_success},
        NotifyCase{"SUCCESS,FAILURE", true, notify_success | notify_failure},
        NotifyCase{"delay,Failure,SUCCESS", true, notify_success | notify_failure | notify_delay},
        NotifyCase{"NEVER,SUCCESS", false, 0}, NotifyCase{"SUCCESS,NEVER", false, 0},
        NotifyCase{"", false, 0}, NotifyCase{"SUCCESS,", false, 0}, NotifyCase{",SUCCESS", false, 0},
        NotifyCase{"ALWAYS", false, 0}));

// ---- tokenising ----------------------------------------------------------------------------------

TEST(SplitParams, SplitsOnSpaces) {
  auto p = split_params("  SIZE=10   SMTPUTF8 BODY=8BITMIME ");
  ASSERT_TRUE(p);
  ASSERT_EQ(p->size(), 3u);
  EXPECT_EQ((*p)[0].keyword, "SIZE");
  EXPECT_EQ((*p)[0].value, "10");
  EXPECT_TRUE((*p)[0].has_value);
  EXPECT_EQ((*p)[1].keyword, "SMTPUTF8");
  EXPECT_FALSE((*p)[1].has_value);
  EXPECT_EQ((*p)[2].value, "8BITMIME");
  EXPECT_TRUE(split_params("")->empty());
}

TEST(SplitParams, RejectsMalformedTokens) {
  for (const char* bad : {"=x", "SIZE=", "FOO_BAR=1", "-X=1", "X=a\x01", "X=\x7F", "X\t=1"}) {
    auto p = split_params(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.reply().one_line(), "501 5.5.4 Bad parameter syntax") << bad;
  }
}

TEST(SplitParams, CountIsCapped) {
  // security catalogue A15: a flood of parameters is refused after kMaxParams, not stored.
  std::string sixteen, seventeen;
  for (std::size_t i = 0; i < kMaxParams; ++i) sixteen += " X" + std::to_string(i) + "=1";
  seventeen = sixteen + " Y=1";
  EXPECT_TRUE(split_params(sixteen));
  auto p = split_params(seventeen);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.reply().one_line(), "501 5.5.4 Error: too many parameters");
  std::string flood;
  for (int i = 0; i < 5000; ++i) flood += " A=1";
  EXPECT_FALSE(split_params(flood));
}

struct SplitCase {
  std::string in;
  bool ok;
  std::string path;
  std::string params;
};

class SplitPath : public ::testing::TestWithParam<SplitCase> {};

TEST_P(SplitPath, Table) {
  const auto& c = GetParam();
  auto s = split_path(c.in);
  ASSERT_EQ(s.has_value(), c.ok) << c.in;
  if (!c.ok) return;
  EXPECT_EQ(s->path, c.path);
  EXPECT_EQ(s->params, c.params);
}

INSTANTIATE_TEST_SUITE_P(
    Paths, SplitPath,
    ::testing::Values(
        SplitCase{"<a@b>", true, "a@b", ""},
        SplitCase{"<a@b> SIZE=1", true, "a@b", " SIZE=1"},
        SplitCase{"<>", true, "", ""},
        SplitCase{"<\"a>b\"@c>", true, "\"a>b\"@c", ""},           // '>' inside a quoted local part
        SplitCase{"<\"a\\\">\"@c> X", true, "\"a\\\">\"@c", " X"},  // quoted-pair \" does not end the quote
        SplitCase{"<a@b>x", false, "", ""},
        SplitCase{"a@b", false, "", ""},
        SplitCase{"<a@b", false, "", ""},
        SplitCase{"<\"a@b>", false, "", ""},
        SplitCase{"", false, "", ""}));

struct RouteCase {
  const char* in;
  bool ok;
  const char* out;
};

class SourceRoute : public ::testing::TestWithParam<RouteCase> {};

TEST_P(SourceRoute, Table) {
  const auto& c = GetParam();
  auto r = strip_source_route(c.in);
  ASSERT_EQ(r.has_value(), c.ok) << c.in;
  if (c.ok) {
    EXPECT_EQ(*r, c.out);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc5321, SourceRoute,
    ::testing::Values(
        RouteCase{"u@d.example", true, "u@d.example"},
        RouteCase{"@a.example:u@d.example", true, "u@d.example"},
        RouteCase{"@a.example,@b.example:u@d.example", true, "u@d.example"},
        RouteCase{"@[IPv6:::1]:u@d.example", true, "u@d.example"},  // ':' inside a literal
        RouteCase{"@[127.0.0.1]:u@d.example", true, "u@d.example"},
        RouteCase{"@a.example", false, ""},
        RouteCase{"@:u@d.example", false, ""},
        RouteCase{"@a.example,b.example:u@d.example", false, ""},
        RouteCase{"@1.2.3.4:u@d.example", false, ""}));

// ---- MAIL and RCPT -------------------------------------------------------------------------------

std::string describe(const Envelope& e) {
  std::string s = "from=<" + (e.sender ? e.sender->str() : "") + ">";
  if (e.declared_size) s += " size=" + std::to_string(*e.declared_size);
  if (e.body == BodyType::eight_bit_mime) s += " body=8BITMIME";
  if (e.body == BodyType::binary_mime) s += " body=BINARYMIME";
  if (e.smtputf8) s += " smtputf8";
  if (!e.ret.empty()) s += " ret=" + e.ret;
  if (!e.envid.empty()) s += " envid=" + e.envid;
  return s;
}

std::string describe(const EnvelopeRecipient& r) {
  std::string s = "to=<" + r.address.str() + ">";
  if (r.notify) s += " notify=" + std::to_string(r.notify);
  if (!r.orcpt.empty()) s += " orcpt=" + r.orcpt;
  return s;
}

struct MailCase {
  std::string arg;
  std::string want;  // describe() of the result, or the reply
};

class ParseMail : public ::testing::TestWithParam<MailCase> {};

TEST_P(ParseMail, Table) {
  const auto& c = GetParam();
  auto r = parse_mail(c.arg);
  EXPECT_EQ(r ? describe(*r) : r.reply().one_line(), c.want) << c.arg;
}

const std::string kBadSender = "501 5.1.7 Bad sender address syntax";
const std::string k64(64, 'a');

INSTANTIATE_TEST_SUITE_P(
    Rfc5321, ParseMail,
    ::testing::Values(
        MailCase{"FROM:<a@b.example>", "from=<a@b.example>"},
        MailCase{"from:<A@B.Example>", "from=<A@b.example>"},
        MailCase{"FROM: <a@b.example>", "from=<a@b.example>"},                   // space after FROM:
        MailCase{"FROM:<>", "from=<>"},                                          // A12 null sender
        MailCase{"FROM:<> RET=HDRS", "from=<> ret=HDRS"},
        MailCase{"FROM:<@r1.example,@r2.example:a@b.example>", "from=<a@b.example>"},  // route ignored
        MailCase{"FROM:a@b.example", kBadSender},
        MailCase{"FROM:<a@b.example", kBadSender},
        MailCase{"TO:<a@b.example>", kBadSender},
        MailCase{"FROM :<a@b.example>", kBadSender},
        MailCase{"", kBadSender},
        MailCase{"FROM:<<a@b.example>>", kBadSender},                            // A18
        MailCase{"FROM:<a@b@c.example>", kBadSender},                            // A18 two @
        MailCase{"FROM:<a(x)@b.example>", kBadSender},                           // A18 comment
        MailCase{"FROM:<\"a@b.example>", kBadSender},                            // A18 unbalanced quote
        MailCase{"FROM:<;sleep 66;>", kBadSender},                               // A20
        MailCase{"FROM:<a@b.example>x", kBadSender},
        MailCase{"FROM:<a@1.2.3.4>", kBadSender},                                // A26 unbracketed numeric
        MailCase{"FROM:<a@[192.0.2.1]>", "from=<a@[192.0.2.1]>"},               // A26 literal
        MailCase{"FROM:<\"john doe\"@b.example>", "from=<\"john doe\"@b.example>"},  // A22
        MailCase{"FROM:<" + k64 + "@b.example>", "from=<" + k64 + "@b.example>"},   // A19 64 octets
        MailCase{"FROM:<" + k64 + "a@b.example>", kBadSender},                      // A19 65 octets
        MailCase{"FROM:<a@b.example> SIZE=1000", "from=<a@b.example> size=1000"},
        MailCase{"FROM:<a@b.example> SIZE=abc", "501 5.5.4 Bad message size syntax"},                 // A13
        MailCase{"FROM:<a@b.example> SIZE=99999999999999999999", "501 5.5.4 Bad message size syntax"},  // A13
        MailCase{"FROM:<a@b.example> SIZE", "501 5.5.4 Bad message size syntax"},
        MailCase{"FROM:<a@b.example> SIZE=1 size=2", "501 5.5.4 Duplicate option: SIZE"},
        MailCase{"FROM:<a@b.example> BODY=8BITMIME", "from=<a@b.example> body=8BITMIME"},
        MailCase{"FROM:<a@b.example> body=binarymime", "from=<a@b.example> body=BINARYMIME"},
        MailCase{"FROM:<a@b.example> BODY=7bit", "from=<a@b.example>"},
        MailCase{"FROM:<a@b.example> BODY=9BIT", "501 5.5.4 Bad BODY parameter syntax"},
        MailCase{"FROM:<a@b.example> RET=hdrs ENVID=QQ+2B1", "from=<a@b.example> ret=HDRS envid=QQ+1"},
        MailCase{"FROM:<a@b.example> RET=ALL", "501 5.5.4 Bad RET parameter syntax"},
        MailCase{"FROM:<a@b.example> ENVID=a+0D+0Ab", "501 5.5.4 Bad ENVID parameter syntax"},  // A16
        MailCase{"FROM:<a@b.example> ENVID=+ZZ", "501 5.5.4 Bad ENVID parameter syntax"},       // A16
        MailCase{"FROM:<a@b.example> ENVID=" + std::string(101, 'x'), "501 5.5.4 Bad ENVID parameter syntax"},
        MailCase{"FROM:<a@b.example> ENVID=x ENVID=y", "501 5.5.4 Duplicate option: ENVID"},
        MailCase{"FROM:<a@b.example> AUTH=<>", "from=<a@b.example>"},
        MailCase{"FROM:<a@b.example> AUTH=u+40b.example", "from=<a@b.example>"},
        MailCase{"FROM:<a@b.example> AUTH=x+0D+0AMAIL", "501 5.5.4 Bad AUTH parameter syntax"},  // A17
        MailCase{"FROM:<a@b.example> FOO=bar", "555 5.5.4 Unsupported option: FOO"},             // A15
        MailCase{"FROM:<a@b.example> FOO", "555 5.5.4 Unsupported option: FOO"},                 // A15 no '='
        MailCase{"FROM:<a@b.example> NOTIFY=NEVER", "555 5.5.4 Unsupported option: NOTIFY"},
        MailCase{"FROM:<a@b.example> SMTPUTF8=yes", "501 5.5.4 Bad SMTPUTF8 parameter syntax"},
        MailCase{"FROM:<\xC3\xBC@b.example>", "553 5.6.7 Must declare SMTPUTF8 to send Unicode address"},  // A23
        MailCase{"FROM:<a@b\xC3\xBC" "cher.example>", "553 5.6.7 Must declare SMTPUTF8 to send Unicode address"},
        MailCase{"FROM:<\xC3\xBC@b\xC3\xBC" "cher.example> SMTPUTF8",
                 "from=<\xC3\xBC@xn--bcher-kva.example> smtputf8"}));  // A24 U-label → A-label

struct RcptCase {
  std::string arg;
  bool smtputf8;
  std::string want;
};

class ParseRcpt : public ::testing::TestWithParam<RcptCase> {};

TEST_P(ParseRcpt, Table) {
  const auto& c = GetParam();
  auto r = parse_rcpt(c.arg, c.smtputf8, "mx.test.example");
  EXPECT_EQ(r ? describe(*r) : r.reply().one_line(), c.want) << c.arg;
}

const std::string kBadRcpt = "501 5.1.3 Bad recipient address syntax";

INSTANTIATE_TEST_SUITE_P(
    Rfc5321, ParseRcpt,
    ::testing::Values(
        RcptCase{"TO:<c@d.example>", false, "to=<c@d.example>"},
        RcptCase{"to: <c@D.example>", false, "to=<c@d.example>"},
        RcptCase{"TO:<>", false, kBadRcpt},                                          // A12
        RcptCase{"TO:<Postmaster>", false, "to=<postmaster@mx.test.example>"},
        RcptCase{"TO:<@a.example:c@d.example>", false, "to=<c@d.example>"},
        RcptCase{"TO:<c@d.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;c+40d.example", false,
                 "to=<c@d.example> notify=6 orcpt=rfc822;c@d.example"},
        RcptCase{"TO:<c@d.example> NOTIFY=NEVER", false, "to=<c@d.example> notify=1"},
        RcptCase{"TO:<c@d.example> NOTIFY=NEVER,DELAY", false, "501 5.5.4 Bad NOTIFY parameter syntax"},
        RcptCase{"TO:<c@d.example> NOTIFY", false, "501 5.5.4 Bad NOTIFY parameter syntax"},
        RcptCase{"TO:<c@d.example> ORCPT=rfc822;a+0Ab", false, "501 5.5.4 Bad ORCPT parameter syntax"},  // A16
        RcptCase{"TO:<c@d.example> ORCPT=rfc822", false, "501 5.5.4 Bad ORCPT parameter syntax"},
        RcptCase{"TO:<c@d.example> ORCPT=;x", false, "501 5.5.4 Bad ORCPT parameter syntax"},
        RcptCase{"TO:<c@d.example> ORCPT=rfc822;", false, "501 5.5.4 Bad ORCPT parameter syntax"},
        RcptCase{"TO:<c@d.example> ORCPT=rfc822;+ZZ", false, "501 5.5.4 Bad ORCPT parameter syntax"},
        RcptCase{"TO:<c@d.example> SIZE=10", false, "555 5.5.4 Unsupported option: SIZE"},
        RcptCase{"TO:<c@d.example> NOTIFY=DELAY notify=DELAY", false, "501 5.5.4 Duplicate option: NOTIFY"},
        RcptCase{"TO:<\xC3\xBC@d.example>", false, "553 5.6.7 Must declare SMTPUTF8 to send Unicode address"},
        RcptCase{"TO:<\xC3\xBC@d.example>", true, "to=<\xC3\xBC@d.example>"},
        RcptCase{"TO:<${run{/bin/true}}@d.example>", false, "to=<${run{/bin/true}}@d.example>"},  // A21: inert
        RcptCase{"TO:<a@b.example@c.example>", false, kBadRcpt},
        RcptCase{"TO:c@d.example", false, kBadRcpt},
        RcptCase{"FROM:<c@d.example>", false, kBadRcpt},
        RcptCase{"TO:<c@d.example", false, kBadRcpt}));

TEST(ParseRcpt, PathLengthLimits) {
  // security catalogue A19: RFC limits accepted, beyond them a syntax error (no truncation).
  std::string label(63, 'x');
  std::string domain249 = label + "." + label + "." + label + "." + std::string(57, 'y');  // 249 octets
  ASSERT_EQ(domain249.size(), 249u);
  EXPECT_TRUE(parse_rcpt("TO:<ab@" + domain249 + ">", false, "mx"));
  std::string domain253 = domain249 + ".zzz";
  auto r = parse_rcpt("TO:<ab@" + domain253 + ">", false, "mx");  // path of 258 octets
  ASSERT_FALSE(r);
  EXPECT_EQ(r.reply().one_line(), kBadRcpt);
  std::string domain256 = label + "." + label + "." + label + "." + label;  // 255 + one more
  EXPECT_FALSE(parse_rcpt("TO:<a@" + domain256 + "x>", false, "mx"));
}

}  // namespace
}  // namespace mf::smtp
