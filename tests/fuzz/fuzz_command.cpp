// libFuzzer target: the SMTP command tokenizer, the MAIL/RCPT path and parameter parsers, xtext, and
// the core Address / Domain parsers they rely on (security catalogue J01). Besides "no crash, no
// sanitizer report", it checks what the parsers promise:
//  - views returned by parse_command() lie inside the input;
//  - nothing decoded (ENVID, ORCPT) or parsed (addresses) contains CR, LF, NUL or other controls;
//  - a parsed address re-parses to itself (canonical form is stable);
//  - SIZE values are exactly the decimal digits given.
#include "core/address.hpp"
#include "core/domain.hpp"
#include "smtp/command.hpp"
#include "smtp/path.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using namespace mf;
using namespace mf::smtp;

void check(bool ok) {
  if (!ok) std::abort();
}

bool has_control(std::string_view s) {
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) return true;
  }
  return false;
}

bool within(std::string_view inner, std::string_view outer) {
  if (inner.empty()) return true;
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

void check_address(const Address& a, bool utf8) {
  check(!has_control(a.str()));
  auto again = Address::parse(a.str(), utf8);
  check(again.has_value());
  check(*again == a);
}

void check_envelope(const Envelope& e) {
  if (e.sender) check_address(*e.sender, e.smtputf8);
  check(!has_control(e.envid));
  check(e.ret.empty() || e.ret == "FULL" || e.ret == "HDRS");
}

void check_rcpt(const EnvelopeRecipient& r, bool utf8) {
  check_address(r.address, utf8);
  check(!has_control(r.orcpt));
  check((r.notify & notify_never) == 0 || r.notify == notify_never);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  (void)check_line(in);
  const Command c = parse_command(in);
  check(within(c.name, in) && within(c.arg, in));
  check(c.name.size() <= in.size());

  for (std::string_view arg : {c.arg, in}) {
    if (auto mail = parse_mail(arg)) {
      check_envelope(*mail);
    } else {
      check(mail.reply().code >= 500 && mail.reply().code < 600);
    }
    for (bool utf8 : {false, true}) {
      if (auto rcpt = parse_rcpt(arg, utf8, "mx.test.example")) {
        check_rcpt(*rcpt, utf8);
      } else {
        check(rcpt.reply().code >= 500 && rcpt.reply().code < 600);
      }
    }
  }

  if (auto x = decode_xtext(in)) check(!has_control(*x) && is_valid_utf8(*x));
  if (auto n = parse_size_value(in)) check(std::to_string(*n) == in || in.front() == '0');
  if (auto params = split_params(in)) check(params->size() <= kMaxParams);
  if (auto s = split_path(in)) check(within(s->path, in) && within(s->params, in));
  if (auto r = strip_source_route(in)) check(within(*r, in));

  for (bool utf8 : {false, true}) {
    if (auto a = Address::parse(in, utf8)) check_address(*a, utf8);
  }
  if (auto d = Domain::parse(in)) {
    auto again = Domain::parse(d->str());
    check(again.has_value() && *again == *d);
  }
  return 0;
}
