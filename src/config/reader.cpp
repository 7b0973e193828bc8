#include "config/reader.hpp"

#include <unistd.h>
#include <yaml-cpp/depthguard.h>

#include <algorithm>
#include <charconv>
#include <limits>

namespace mf::config::detail {

std::string Path::str() const {
  if (parent_ == nullptr && key_.empty() && !is_index_) return {};
  std::string head = parent_ ? parent_->str() : std::string();
  if (is_index_) return head + "[" + std::to_string(index_) + "]";
  if (head.empty()) return std::string(key_);
  return head + "." + std::string(key_);
}

void Ctx::error(int line, int column, const Path& path, std::string message) const {
  errors->push_back(ConfigError{file, line, column, path.str(), std::move(message)});
}

void Ctx::error(const YAML::Node& at, const Path& path, std::string message) const {
  const Located l = located(at);
  error(l.line, l.column, path, std::move(message));
}

void Ctx::visit() const {
  if (budget != nullptr && ++budget->used > budget->limit) throw TooManyNodes{};
}

std::string yaml_message(const YAML::Exception& e) {
  if (const auto* deep = dynamic_cast<const YAML::DeepRecursion*>(&e))
    return "YAML syntax error: nesting deeper than " + std::to_string(deep->depth()) + " levels";
  return "YAML syntax error: " + e.msg;
}

Located located(const YAML::Node& n) {
  Located l;
  if (n.IsScalar()) l.text = n.Scalar();
  const YAML::Mark m = n.Mark();
  if (m.line >= 0) {
    l.line = m.line + 1;
    l.column = m.column + 1;
  }
  return l;
}

std::string type_name(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "nothing (null)";
    case YAML::NodeType::Scalar:
      return "'" + n.Scalar() + "'";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
    default:
      return "an undefined value";
  }
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + cost});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string squash(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '_' || c == '-' || c == ' ') continue;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return out;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string suggest(std::string_view word, std::initializer_list<std::string_view> candidates) {
  if (word.size() > 64) return {};
  const std::string w = squash(word);
  std::string_view best;
  std::size_t best_d = std::numeric_limits<std::size_t>::max();
  for (auto c : candidates) {
    std::size_t d = std::min(edit_distance(word, c), edit_distance(w, squash(c)));
    if (d < best_d) {
      best_d = d;
      best = c;
    }
  }
  const std::size_t limit = std::max<std::size_t>(2, word.size() / 3);
  return best_d <= limit ? std::string(best) : std::string();
}

MapReader::MapReader(const Ctx& ctx, const YAML::Node& node, const Path& path,
                     std::initializer_list<std::string_view> allowed)
    : ctx_(ctx), node_(node), path_(path) {
  ctx.visit();
  if (!node.IsMap()) {
    ctx.error(node, path, "expected a mapping, got " + type_name(node));
    return;
  }
  ok_ = true;
  for (const auto& kv : node) {
    ctx.visit();
    const YAML::Node k = kv.first;
    if (!k.IsScalar()) {
      ctx.error(k, path, "a key must be a plain string, got " + type_name(k));
      continue;
    }
    const std::string& name = k.Scalar();
    auto known = std::find(allowed.begin(), allowed.end(), std::string_view(name));
    if (known == allowed.end()) {
      std::string msg = "unknown key '" + name + "'";
      if (auto s = suggest(name, allowed); !s.empty()) msg += " (did you mean '" + s + "'?)";
      const Path p = path.key(name);
      ctx.error(k, p, std::move(msg));
      continue;
    }
    auto dup = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.key == *known; });
    if (dup != entries_.end()) {
      const Path p = path.key(*known);
      ctx.error(k, p, "duplicate key '" + name + "' (first given at line " +
                          std::to_string(located(dup->key_node).line) + ")");
      continue;
    }
    entries_.push_back(Entry{*known, k, kv.second});
  }
}

std::optional<YAML::Node> MapReader::get(std::string_view key) const {
  for (const auto& e : entries_) {
    if (e.key == key) {
      if (e.value.IsNull() || !e.value.IsDefined()) return std::nullopt;
      return e.value;
    }
  }
  return std::nullopt;
}

void MapReader::missing(std::string_view key) const {
  const Path p = path_.key(key);
  for (const auto& e : entries_) {
    if (e.key == key) {
      ctx_.error(e.key_node, p, "'" + std::string(key) + "' must not be empty");
      return;
    }
  }
  ctx_.error(node_, p, "'" + std::string(key) + "' is required");
}

std::optional<std::string> read_string(const Ctx& ctx, const YAML::Node& n, const Path& p) {
  if (!n.IsScalar()) {
    ctx.error(n, p, "expected a string, got " + type_name(n));
    return std::nullopt;
  }
  return n.Scalar();
}

std::optional<bool> read_bool(const Ctx& ctx, const YAML::Node& n, const Path& p) {
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  ctx.error(n, p, "expected true or false, got " + type_name(n));
  return std::nullopt;
}

std::optional<std::uint64_t> read_uint(const Ctx& ctx, const YAML::Node& n, const Path& p, std::uint64_t min,
                                       std::uint64_t max) {
  std::uint64_t v = 0;
  bool ok = n.IsScalar() && all_digits(n.Scalar());
  if (ok) {
    const std::string& s = n.Scalar();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || v > max) {
      ctx.error(n, p, "must be at most " + std::to_string(max) + ", got " + s);
      return std::nullopt;
    }
  }
  if (!ok) {
    ctx.error(n, p, "expected a whole number, got " + type_name(n));
    return std::nullopt;
  }
  if (v < min) {
    ctx.error(n, p, "must be at least " + std::to_string(min) + ", got " + std::to_string(v));
    return std::nullopt;
  }
  return v;
}

std::optional<std::int64_t> read_int(const Ctx& ctx, const YAML::Node& n, const Path& p, std::int64_t min,
                                     std::int64_t max) {
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    std::string_view digits = s;
    if (!digits.empty() && (digits.front() == '-' || digits.front() == '+')) digits.remove_prefix(1);
    if (all_digits(digits)) {
      std::int64_t v = 0;
      const char* first = s.data() + (s.front() == '+' ? 1 : 0);
      auto [ptr, ec] = std::from_chars(first, s.data() + s.size(), v);
      if (ec != std::errc{} || v < min || v > max) {
        ctx.error(n, p, "must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " + s);
        return std::nullopt;
      }
      return v;
    }
  }
  ctx.error(n, p, "expected a whole number, got " + type_name(n));
  return std::nullopt;
}

std::optional<Seconds> read_duration(const Ctx& ctx, const YAML::Node& n, const Path& p, bool allow_zero) {
  auto s = read_string(ctx, n, p);
  if (!s) return std::nullopt;
  auto d = parse_duration(*s);
  if (!d) {
    ctx.error(n, p, d.error().message);
    return std::nullopt;
  }
  if (!allow_zero && d->count() == 0) {
    ctx.error(n, p, "must be longer than 0s");
    return std::nullopt;
  }
  return *d;
}

std::optional<std::uint64_t> read_size(const Ctx& ctx, const YAML::Node& n, const Path& p, bool allow_zero) {
  auto s = read_string(ctx, n, p);
  if (!s) return std::nullopt;
  auto v = parse_size(*s);
  if (!v) {
    ctx.error(n, p, v.error().message);
    return std::nullopt;
  }
  if (!allow_zero && *v == 0) {
    ctx.error(n, p, "must be greater than 0");
    return std::nullopt;
  }
  return *v;
}

void opt_string(const MapReader& m, std::string_view key, std::string& out) {
  if (auto n = m.get(key)) {
    const Path p = m.path().key(key);
    if (auto v = read_string(m.ctx(), *n, p)) out = std::move(*v);
  }
}

void opt_bool(const MapReader& m, std::string_view key, bool& out) {
  if (auto n = m.get(key)) {
    const Path p = m.path().key(key);
    if (auto v = read_bool(m.ctx(), *n, p)) out = *v;
  }
}

void opt_duration(const MapReader& m, std::string_view key, Seconds& out, bool allow_zero) {
  if (auto n = m.get(key)) {
    const Path p = m.path().key(key);
    if (auto v = read_duration(m.ctx(), *n, p, allow_zero)) out = *v;
  }
}

void opt_size(const MapReader& m, std::string_view key, std::uint64_t& out, bool allow_zero) {
  if (auto n = m.get(key)) {
    const Path p = m.path().key(key);
    if (auto v = read_size(m.ctx(), *n, p, allow_zero)) out = *v;
  }
}

Result<Domain> parse_plain_domain(std::string_view text) {
  auto d = Domain::parse(text);
  if (!d) return make_error("invalid domain '" + std::string(text) + "': " + d.error().message);
  if (d->is_literal()) return make_error("'" + std::string(text) + "' is an address literal, not a domain name");
  return d;
}

Result<std::string> parse_name_or_wildcard(std::string_view text) {
  if (text.size() > 2 && text.substr(0, 2) == "*.") {
    auto d = parse_plain_domain(text.substr(2));
    if (!d) return d.error();
    return "*." + d->str();
  }
  auto d = parse_plain_domain(text);
  if (!d) return d.error();
  return d->str();
}

Result<DomainPattern> parse_domain_pattern(std::string_view text) {
  DomainPattern p;
  if (text == "*") {
    p.kind = DomainPattern::Kind::any;
    return p;
  }
  if (text.size() > 2 && text.substr(0, 2) == "*.") {
    p.kind = DomainPattern::Kind::wildcard;
    text.remove_prefix(2);
  }
  auto d = parse_plain_domain(text);
  if (!d) return d.error();
  p.domain = std::move(*d);
  return p;
}

namespace {

Result<std::uint16_t> parse_port(std::string_view s, std::string_view whole) {
  unsigned v = 0;
  if (!all_digits(s) || s.size() > 5 || std::from_chars(s.data(), s.data() + s.size(), v).ec != std::errc{} ||
      v == 0 || v > 65535)
    return make_error("invalid port in '" + std::string(whole) + "' (expected 1-65535)");
  return static_cast<std::uint16_t>(v);
}

}  // namespace

Result<HostPort> parse_host_port(std::string_view text, bool require_port, bool require_ip) {
  const std::string whole(text);
  HostPort hp;
  std::string_view host = text, port;
  bool has_port = false;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return make_error("missing ']' in '" + whole + "'");
    host = text.substr(1, close - 1);
    if (host.size() > 5 && iequals(host.substr(0, 5), "IPv6:")) host.remove_prefix(5);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return make_error("unexpected text after ']' in '" + whole + "'");
      port = rest.substr(1);
      has_port = true;
    }
    auto ip = IpAddress::parse(host);
    if (!ip) return make_error("invalid IP address in '" + whole + "'");
    hp.host = ip->str();
    hp.is_ip = true;
  } else {
    auto colon = text.find(':');
    if (colon != std::string_view::npos && text.find(':', colon + 1) != std::string_view::npos) {
      // Several colons: a bare IPv6 address, which cannot carry a port.
      auto ip = IpAddress::parse(text);
      if (!ip) return make_error("invalid address '" + whole + "' (write an IPv6 address with a port as [addr]:port)");
      hp.host = ip->str();
      hp.is_ip = true;
    } else {
      if (colon != std::string_view::npos) {
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
        has_port = true;
      }
      if (host.empty()) return make_error("missing host in '" + whole + "'");
      if (auto ip = IpAddress::parse(host)) {
        hp.host = ip->str();
        hp.is_ip = true;
      } else {
        auto d = parse_plain_domain(host);
        if (!d) return make_error("invalid host in '" + whole + "': " + d.error().message);
        hp.host = d->str();
      }
    }
  }
  if (has_port) {
    auto p = parse_port(port, whole);
    if (!p) return p.error();
    hp.port = *p;
  }
  if (require_port && !has_port) return make_error("'" + whole + "' needs a port (ip:port or [ipv6]:port)");
  if (require_ip && !hp.is_ip) return make_error("'" + whole + "' must be an IP address, not a host name");
  return hp;
}

std::string resolve_path(const std::filesystem::path& base, std::string_view text) {
  std::filesystem::path p{std::string(text)};
  if (p.is_relative()) p = base / p;
  std::string s = p.lexically_normal().string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

void check_readable_file(const Ctx& ctx, const YAML::Node& at, const Path& p, const std::string& path) {
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    ctx.error(at, p, "file '" + path + "' does not exist");
  } else if (!std::filesystem::is_regular_file(st)) {
    ctx.error(at, p, "'" + path + "' is not a regular file");
  } else if (::access(path.c_str(), R_OK) != 0) {
    ctx.error(at, p, "file '" + path + "' is not readable");
  }
}

bool has_control_chars(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

}  // namespace mf::config::detail
