#include "smtp/command.hpp"

#include "core/address.hpp"
#include "core/domain.hpp"

#include <array>
#include <utility>

namespace mf::smtp {

LineProblem check_line(std::string_view line) {
  if (line.find('\0') != std::string_view::npos) return LineProblem::nul;
  // The line ends at its first LF, so the only legal CR is the one right before that LF.
  if (line.size() < 2 || line.back() != '\n' || line[line.size() - 2] != '\r') return LineProblem::bare_cr_lf;
  std::string_view body = line.substr(0, line.size() - 2);
  if (body.find('\r') != std::string_view::npos || body.find('\n') != std::string_view::npos) {
    return LineProblem::bare_cr_lf;
  }
  if (!is_valid_utf8(body)) return LineProblem::bad_utf8;
  return LineProblem::none;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

namespace {

constexpr std::array<std::pair<std::string_view, Verb>, 14> kVerbs{{
    {"EHLO", Verb::ehlo}, {"HELO", Verb::helo}, {"MAIL", Verb::mail}, {"RCPT", Verb::rcpt},
    {"DATA", Verb::data}, {"RSET", Verb::rset}, {"NOOP", Verb::noop}, {"QUIT", Verb::quit},
    {"VRFY", Verb::vrfy}, {"EXPN", Verb::expn}, {"HELP", Verb::help}, {"STARTTLS", Verb::starttls},
    {"BDAT", Verb::bdat}, {"AUTH", Verb::auth},
}};

constexpr std::array<std::string_view, 6> kHttpVerbs{"GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS"};

}  // namespace

Command parse_command(std::string_view line) {
  Command c;
  std::size_t sp = line.find(' ');
  c.name = line.substr(0, sp);
  c.arg = sp == std::string_view::npos ? std::string_view{} : trim(line.substr(sp + 1));
  if (!c.name.empty() && c.name.back() == ':') {
    c.verb = Verb::header_like;
    return c;
  }
  for (const auto& [text, verb] : kVerbs) {
    if (iequals(c.name, text)) {
      c.verb = verb;
      return c;
    }
  }
  for (std::string_view http : kHttpVerbs) {
    if (iequals(c.name, http)) {
      c.verb = Verb::http;
      return c;
    }
  }
  return c;
}

std::optional<AuthArgs> parse_auth(std::string_view arg) {
  arg = trim(arg);
  if (arg.empty()) return std::nullopt;
  AuthArgs a;
  const std::size_t sp = arg.find(' ');
  a.mechanism = arg.substr(0, sp);
  if (sp == std::string_view::npos) return a;
  std::string_view rest = trim(arg.substr(sp + 1));
  if (rest.find(' ') != std::string_view::npos || rest.find('\t') != std::string_view::npos) return std::nullopt;
  a.initial_response = rest;
  return a;
}

}  // namespace mf::smtp
