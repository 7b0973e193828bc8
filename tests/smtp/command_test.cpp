// Tests for src/smtp/command.cpp: line checks and the verb/argument split.
#include "smtp/command.hpp"

#include <gtest/gtest.h>

#include <string>

namespace mf::smtp {
namespace {

struct LineCase {
  std::string line;
  LineProblem want;
};

class CheckLine : public ::testing::TestWithParam<LineCase> {};

TEST_P(CheckLine, Table) {
  const auto& c = GetParam();
  EXPECT_EQ(check_line(c.line), c.want) << testing::PrintToString(c.line);
}

INSTANTIATE_TEST_SUITE_P(
    Lines, CheckLine,
    ::testing::Values(
        LineCase{"EHLO x\r\n", LineProblem::none},
        LineCase{"\r\n", LineProblem::none},
        LineCase{"EHLO x\n", LineProblem::bare_cr_lf},                                  // A05
        LineCase{"\n", LineProblem::bare_cr_lf},
        LineCase{"MAIL FROM:<a@b.example>\rRCPT TO:<c@d.example>\r\n", LineProblem::bare_cr_lf},  // A06
        LineCase{"EHLO x\r\r\n", LineProblem::bare_cr_lf},
        LineCase{"EHLO x", LineProblem::bare_cr_lf},                                    // no terminator at all
        LineCase{std::string("EH\0LO x\r\n", 9), LineProblem::nul},                     // A04
        LineCase{std::string("EHLO x\0\n", 8), LineProblem::nul},                       // NUL wins over bare LF
        LineCase{"EHLO \x80\x81\r\n", LineProblem::bad_utf8},                           // A07
        LineCase{"EHLO \xC3\xA9t\xC3\xA9\r\n", LineProblem::none},                      // valid UTF-8
        LineCase{"EHLO \xED\xA0\x80\r\n", LineProblem::bad_utf8}));                     // surrogate

struct CommandCase {
  const char* line;
  Verb verb;
  const char* name;
  const char* arg;
};

class ParseCommand : public ::testing::TestWithParam<CommandCase> {};

TEST_P(ParseCommand, Table) {
  const auto& c = GetParam();
  Command cmd = parse_command(c.line);
  EXPECT_EQ(cmd.verb, c.verb) << c.line;
  EXPECT_EQ(cmd.name, c.name) << c.line;
  EXPECT_EQ(cmd.arg, c.arg) << c.line;
}

INSTANTIATE_TEST_SUITE_P(
    Verbs, ParseCommand,
    ::testing::Values(
        CommandCase{"EHLO client.example", Verb::ehlo, "EHLO", "client.example"},
        CommandCase{"ehlo client.example", Verb::ehlo, "ehlo", "client.example"},
        CommandCase{"HeLo x", Verb::helo, "HeLo", "x"},
        CommandCase{"MAIL FROM:<a@b.example> SIZE=10", Verb::mail, "MAIL", "FROM:<a@b.example> SIZE=10"},
        CommandCase{"MAIL  FROM:<a@b.example>  ", Verb::mail, "MAIL", "FROM:<a@b.example>"},
        CommandCase{"rcpt TO:<c@d.example>\t", Verb::rcpt, "rcpt", "TO:<c@d.example>"},
        CommandCase{"DATA", Verb::data, "DATA", ""},
        CommandCase{"RSET", Verb::rset, "RSET", ""},
        CommandCase{"NOOP anything", Verb::noop, "NOOP", "anything"},
        CommandCase{"QUIT", Verb::quit, "QUIT", ""},
        CommandCase{"VRFY root", Verb::vrfy, "VRFY", "root"},
        CommandCase{"EXPN staff", Verb::expn, "EXPN", "staff"},
        CommandCase{"HELP", Verb::help, "HELP", ""},
        CommandCase{"StartTLS", Verb::starttls, "StartTLS", ""},
        CommandCase{"BDAT 10 LAST", Verb::bdat, "BDAT", "10 LAST"},
        CommandCase{"AUTH PLAIN", Verb::auth, "AUTH", "PLAIN"},
        // security catalogue A29: cross-protocol traffic
        CommandCase{"GET / HTTP/1.1", Verb::http, "GET", "/ HTTP/1.1"},
        CommandCase{"POST /x HTTP/1.1", Verb::http, "POST", "/x HTTP/1.1"},
        CommandCase{"CONNECT mx:25 HTTP/1.1", Verb::http, "CONNECT", "mx:25 HTTP/1.1"},
        CommandCase{"HEAD /", Verb::http, "HEAD", "/"},
        CommandCase{"PUT /", Verb::http, "PUT", "/"},
        CommandCase{"OPTIONS *", Verb::http, "OPTIONS", "*"},
        CommandCase{"Host: mx.example", Verb::header_like, "Host:", "mx.example"},
        CommandCase{"Subject: hello", Verb::header_like, "Subject:", "hello"},
        CommandCase{"XYZZY", Verb::unknown, "XYZZY", ""},                     // A01
        CommandCase{"", Verb::unknown, "", ""},
        CommandCase{" EHLO x", Verb::unknown, "", "EHLO x"},
        CommandCase{"MAILFROM:<a@b>", Verb::unknown, "MAILFROM:<a@b>", ""},
        CommandCase{"EHLO\tx", Verb::unknown, "EHLO\tx", ""}));

TEST(Trim, RemovesSpacesAndTabsOnly) {
  EXPECT_EQ(trim("  \t a b \t "), "a b");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim(" \t "), "");
  EXPECT_EQ(trim("x\r"), "x\r");
}

}  // namespace
}  // namespace mf::smtp
