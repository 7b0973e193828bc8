#include "smtp/path.hpp"

#include "core/address.hpp"
#include "core/domain.hpp"

#include <algorithm>
#include <limits>

namespace mf::smtp {

namespace {

Reply bad_sender() { return make_reply(501, "5.1.7", "Bad sender address syntax"); }
Reply bad_recipient() { return make_reply(501, "5.1.3", "Bad recipient address syntax"); }
Reply undeclared_utf8() { return make_reply(553, "5.6.7", "Must declare SMTPUTF8 to send Unicode address"); }
Reply bad_param_syntax() { return make_reply(501, "5.5.4", "Bad parameter syntax"); }
Reply bad_param(std::string_view keyword) {
  return make_reply(501, "5.5.4", "Bad " + std::string(keyword) + " parameter syntax");
}
Reply duplicate_param(std::string_view keyword) {
  return make_reply(501, "5.5.4", "Duplicate option: " + std::string(keyword));
}
Reply unsupported_param(std::string_view keyword) {
  // The keyword was checked to be [A-Za-z0-9-]; cap what is echoed back.
  return make_reply(555, "5.5.4", "Unsupported option: " + std::string(keyword.substr(0, 64)));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool is_alnum(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool is_keyword(std::string_view k) {
  if (k.empty() || !is_alnum(k.front())) return false;
  return std::all_of(k.begin(), k.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

bool has_non_ascii(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// Records `bit` in `seen`; false when it was already there.
bool first_time(unsigned& seen, unsigned bit) {
  if (seen & bit) return false;
  seen |= bit;
  return true;
}

// The part of MAIL/RCPT after the keyword ("FROM:"/"TO:"): the path text and the parameter list.
std::optional<PathSplit> after_keyword(std::string_view arg, std::string_view keyword) {
  if (arg.size() < keyword.size() || !iequals(arg.substr(0, keyword.size()), keyword)) return std::nullopt;
  std::string_view rest = arg.substr(keyword.size());
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);  // "FROM: <a@b>" is tolerated
  return split_path(rest);
}

}  // namespace

Result<std::string> decode_xtext(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '+') {
      if (i + 2 >= text.size()) return make_error("truncated xtext escape");
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi < 0 || lo < 0) return make_error("invalid hex in xtext escape");
      c = static_cast<unsigned char>(hi * 16 + lo);
      i += 2;
    } else if (c < 33 || c > 126 || c == '=') {
      return make_error("character not allowed in xtext");
    }
    if (c < 0x20 || c == 0x7F) return make_error("control character in decoded xtext");
    out.push_back(static_cast<char>(c));
  }
  if (!is_valid_utf8(out)) return make_error("decoded xtext is not valid UTF-8");
  return out;
}

Result<std::uint64_t> parse_size_value(std::string_view text) {
  if (text.empty() || text.size() > 20) return make_error("SIZE must be 1 to 20 digits");
  std::uint64_t v = 0;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  for (char c : text) {
    if (c < '0' || c > '9') return make_error("SIZE must be digits only");
    auto d = static_cast<std::uint64_t>(c - '0');
    if (v > (kMax - d) / 10) return make_error("SIZE out of range");
    v = v * 10 + d;
  }
  return v;
}

Result<unsigned> parse_notify(std::string_view text) {
  if (iequals(text, "NEVER")) return static_cast<unsigned>(notify_never);
  unsigned flags = notify_none;
  while (true) {
    std::size_t comma = text.find(',');
    std::string_view item = text.substr(0, comma);
    unsigned bit;
    if (iequals(item, "SUCCESS")) bit = notify_success;
    else if (iequals(item, "FAILURE")) bit = notify_failure;
    else if (iequals(item, "DELAY")) bit = notify_delay;
    else return make_error("NOTIFY items are NEVER alone, or SUCCESS, FAILURE, DELAY");
    flags |= bit;
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
  }
  return flags;
}

ReplyOr<std::vector<EsmtpParam>> split_params(std::string_view text) {
  std::vector<EsmtpParam> params;
  std::size_t i = 0;
  while (true) {
    while (i < text.size() && text[i] == ' ') ++i;
    if (i >= text.size()) break;
    std::size_t end = std::min(text.find(' ', i), text.size());
    std::string_view token = text.substr(i, end - i);
    i = end;
    if (params.size() == kMaxParams) return make_reply(501, "5.5.4", "Error: too many parameters");
    EsmtpParam p;
    std::size_t eq = token.find('=');
    p.keyword = token.substr(0, eq);
    if (eq != std::string_view::npos) {
      p.has_value = true;
      p.value = token.substr(eq + 1);
      if (p.value.empty()) return bad_param_syntax();
      // esmtp-value: printable ASCII (RFC 5321) or UTF-8 (RFC 6531); the line was checked for UTF-8.
      for (char ch : p.value) {
        auto c = static_cast<unsigned char>(ch);
        if (c <= 0x20 || c == 0x7F) return bad_param_syntax();
      }
    }
    if (!is_keyword(p.keyword)) return bad_param_syntax();
    params.push_back(p);
  }
  return params;
}

std::optional<PathSplit> split_path(std::string_view text) {
  if (text.empty() || text.front() != '<') return std::nullopt;
  bool quoted = false;
  std::size_t i = 1;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (quoted && c == '\\') {
      ++i;  // quoted-pair: the next octet is literal
    } else if (c == '"') {
      quoted = !quoted;
    } else if (!quoted && c == '>') {
      break;
    }
  }
  if (i >= text.size()) return std::nullopt;
  PathSplit s;
  s.path = text.substr(1, i - 1);
  std::string_view rest = text.substr(i + 1);
  if (!rest.empty() && rest.front() != ' ') return std::nullopt;
  s.params = rest;
  return s;
}

Result<std::string_view> strip_source_route(std::string_view path) {
  if (path.empty() || path.front() != '@') return path;
  std::size_t i = 0;
  while (true) {
    if (i >= path.size() || path[i] != '@') return make_error("source route element must start with '@'");
    std::size_t start = ++i;
    bool bracket = false;
    while (i < path.size() && (bracket || (path[i] != ',' && path[i] != ':'))) {
      if (path[i] == '[') bracket = true;
      else if (path[i] == ']') bracket = false;
      ++i;
    }
    if (i >= path.size()) return make_error("source route without ':'");
    if (!Domain::parse(path.substr(start, i - start))) return make_error("invalid domain in source route");
    if (path[i] == ':') return path.substr(i + 1);
    ++i;  // ','
  }
}

ReplyOr<Envelope> parse_mail(std::string_view arg) {
  auto split = after_keyword(arg, "FROM:");
  if (!split) return bad_sender();
  auto params = split_params(split->params);
  if (!params) return params.reply();

  enum : unsigned { kSize = 1, kBody = 2, kUtf8 = 4, kRet = 8, kEnvid = 16, kAuth = 32 };
  unsigned seen = 0;
  Envelope env;
  for (const EsmtpParam& p : *params) {
    if (iequals(p.keyword, "SIZE")) {
      if (!first_time(seen, kSize)) return duplicate_param("SIZE");
      auto size = p.has_value ? parse_size_value(p.value) : make_error("SIZE needs a value");
      if (!size) return make_reply(501, "5.5.4", "Bad message size syntax");  // catalogue A13
      env.declared_size = *size;
    } else if (iequals(p.keyword, "BODY")) {
      if (!first_time(seen, kBody)) return duplicate_param("BODY");
      if (iequals(p.value, "7BIT")) env.body = BodyType::seven_bit;
      else if (iequals(p.value, "8BITMIME")) env.body = BodyType::eight_bit_mime;
      else if (iequals(p.value, "BINARYMIME")) env.body = BodyType::binary_mime;
      else return bad_param("BODY");
    } else if (iequals(p.keyword, "SMTPUTF8")) {
      if (!first_time(seen, kUtf8)) return duplicate_param("SMTPUTF8");
      if (p.has_value) return bad_param("SMTPUTF8");
      env.smtputf8 = true;
    } else if (iequals(p.keyword, "RET")) {
      if (!first_time(seen, kRet)) return duplicate_param("RET");
      if (iequals(p.value, "FULL")) env.ret = "FULL";
      else if (iequals(p.value, "HDRS")) env.ret = "HDRS";
      else return bad_param("RET");
    } else if (iequals(p.keyword, "ENVID")) {
      if (!first_time(seen, kEnvid)) return duplicate_param("ENVID");
      if (!p.has_value || p.value.size() > kMaxEnvidLength) return bad_param("ENVID");
      auto envid = decode_xtext(p.value);
      if (!envid) return bad_param("ENVID");  // catalogue A16
      env.envid = std::move(*envid);
    } else if (iequals(p.keyword, "AUTH")) {
      // RFC 4954 §5: accepted and ignored (we offer no AUTH yet), but still checked so that an
      // encoded newline cannot hide here (catalogue A17).
      if (!first_time(seen, kAuth)) return duplicate_param("AUTH");
      if (!p.has_value || (p.value != "<>" && !decode_xtext(p.value))) return bad_param("AUTH");
    } else {
      return unsupported_param(p.keyword);
    }
  }

  if (split->path.empty()) return env;  // the null reverse-path (catalogue A12)
  auto mailbox = strip_source_route(split->path);
  if (!mailbox) return bad_sender();
  if (!env.smtputf8 && has_non_ascii(*mailbox)) return undeclared_utf8();  // catalogue A23
  auto address = Address::parse(*mailbox, env.smtputf8);
  if (!address) return bad_sender();
  env.sender = std::move(*address);
  return env;
}

ReplyOr<EnvelopeRecipient> parse_rcpt(std::string_view arg, bool smtputf8, std::string_view postmaster_domain) {
  auto split = after_keyword(arg, "TO:");
  if (!split) return bad_recipient();
  auto params = split_params(split->params);
  if (!params) return params.reply();

  enum : unsigned { kNotify = 1, kOrcpt = 2 };
  unsigned seen = 0;
  EnvelopeRecipient rcpt;
  for (const EsmtpParam& p : *params) {
    if (iequals(p.keyword, "NOTIFY")) {
      if (!first_time(seen, kNotify)) return duplicate_param("NOTIFY");
      auto flags = p.has_value ? parse_notify(p.value) : make_error("NOTIFY needs a value");
      if (!flags) return bad_param("NOTIFY");
      rcpt.notify = *flags;
    } else if (iequals(p.keyword, "ORCPT")) {
      if (!first_time(seen, kOrcpt)) return duplicate_param("ORCPT");
      std::size_t semi = p.value.find(';');
      if (!p.has_value || p.value.size() > kMaxOrcptLength || semi == std::string_view::npos) return bad_param("ORCPT");
      std::string_view type = p.value.substr(0, semi);
      auto addr = decode_xtext(p.value.substr(semi + 1));
      if (!is_keyword(type) || !addr || addr->empty()) return bad_param("ORCPT");
      rcpt.orcpt = std::string(type) + ";" + *addr;
    } else {
      return unsupported_param(p.keyword);
    }
  }

  std::string_view path = split->path;
  if (path.empty()) return bad_recipient();  // "RCPT TO:<>" (catalogue A12)
  std::string postmaster;
  if (iequals(path, "postmaster")) {  // RFC 5321 §4.1.1.3: "<Postmaster>" must be accepted
    postmaster = "postmaster@" + std::string(postmaster_domain);
    path = postmaster;
  }
  auto mailbox = strip_source_route(path);
  if (!mailbox) return bad_recipient();
  if (!smtputf8 && has_non_ascii(*mailbox)) return undeclared_utf8();
  auto address = Address::parse(*mailbox, smtputf8);
  if (!address) return bad_recipient();
  rcpt.address = std::move(*address);
  return rcpt;
}

}  // namespace mf::smtp
