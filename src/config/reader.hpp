// config/reader.hpp — internal to config/: typed, located reading of yaml-cpp nodes.
//
// Every reader reports problems into Ctx::errors (file, 1-based line/column, key path, message)
// and returns "nothing" instead of throwing, so that the loader can go on and collect every
// error of the file. Key paths are built lazily: a Path is a chain of stack frames pointing at
// their parent, turned into text only when an error is reported. Never keep a Path beyond the
// lifetime of its parent, and never chain `p.key("a").key("b")` into a named variable (the
// temporary in the middle would dangle).
#pragma once

#include "config/config.hpp"

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mf::config::detail {

class Path {
 public:
  Path() = default;
  Path key(std::string_view k) const { return Path(this, k, 0, false); }
  Path at(std::size_t i) const { return Path(this, {}, i, true); }
  std::string str() const;

 private:
  Path(const Path* parent, std::string_view k, std::size_t i, bool is_index)
      : parent_(parent), key_(k), index_(i), is_index_(is_index) {}
  const Path* parent_ = nullptr;
  std::string_view key_;
  std::size_t index_ = 0;
  bool is_index_ = false;
};

// Thrown (and caught inside load) when alias expansion makes the document absurdly large.
struct TooManyNodes {};

// Node visits allowed for one load: proportional to the bytes read, so that aliases that
// multiply a small document into billions of nodes are refused instead of followed.
struct Budget {
  std::uint64_t used = 0;
  std::uint64_t limit = 0;
};

struct Ctx {
  std::string file;            // the file being read, for error locations
  std::filesystem::path base;  // folder that relative paths resolve against
  std::vector<ConfigError>* errors = nullptr;
  Budget* budget = nullptr;

  void error(int line, int column, const Path& path, std::string message) const;
  void error(const YAML::Node& at, const Path& path, std::string message) const;
  void visit() const;
};

// "YAML syntax error: ..." for a yaml-cpp parser exception.
std::string yaml_message(const YAML::Exception& e);

// A located scalar: its text and where it was written.
struct Located {
  std::string text;
  int line = 0;    // 1-based, 0 when unknown
  int column = 0;  // 1-based
};
Located located(const YAML::Node& n);

// A mapping whose keys were checked against the schema. Unknown keys (with a "did you mean"
// suggestion) and duplicate keys are reported on construction. Null values count as absent.
class MapReader {
 public:
  MapReader(const Ctx& ctx, const YAML::Node& node, const Path& path,
            std::initializer_list<std::string_view> allowed);
  bool ok() const { return ok_; }
  const Ctx& ctx() const { return ctx_; }
  const Path& path() const { return path_; }
  const YAML::Node& node() const { return node_; }
  // The value for `key`, or an undefined node when absent or null.
  std::optional<YAML::Node> get(std::string_view key) const;
  // Reports "`key` is required" at the mapping (or at the key when its value is null).
  void missing(std::string_view key) const;

 private:
  const Ctx& ctx_;
  YAML::Node node_;
  Path path_;  // a copy; its parent must outlive this reader
  bool ok_ = false;
  struct Entry {
    std::string_view key;  // points into the schema's (static) key list
    YAML::Node key_node;
    YAML::Node value;
  };
  std::vector<Entry> entries_;
};

std::string type_name(const YAML::Node& n);
std::string suggest(std::string_view word, std::initializer_list<std::string_view> candidates);

// Scalar readers: report and return nullopt on a wrong type or value.
std::optional<std::string> read_string(const Ctx&, const YAML::Node&, const Path&);
std::optional<bool> read_bool(const Ctx&, const YAML::Node&, const Path&);
std::optional<std::uint64_t> read_uint(const Ctx&, const YAML::Node&, const Path&, std::uint64_t min,
                                       std::uint64_t max);
std::optional<std::int64_t> read_int(const Ctx&, const YAML::Node&, const Path&, std::int64_t min,
                                     std::int64_t max);
std::optional<Seconds> read_duration(const Ctx&, const YAML::Node&, const Path&, bool allow_zero);
std::optional<std::uint64_t> read_size(const Ctx&, const YAML::Node&, const Path&, bool allow_zero);

// A list of scalars, written as a YAML sequence or as a single string. `f(Located, element
// node, element path)` is called per element; the element path is `path[i]` (or `path` for a
// single string).
template <class F>
void for_each_string(const Ctx& ctx, const YAML::Node& node, const Path& path, F&& f) {
  if (node.IsScalar()) {
    ctx.visit();
    f(located(node), node, path);
    return;
  }
  if (!node.IsSequence()) {
    ctx.error(node, path, "expected a list of strings, got " + type_name(node));
    return;
  }
  std::size_t i = 0;
  for (const auto& item : node) {
    ctx.visit();
    const Path p = path.at(i++);
    if (!item.IsScalar()) {
      ctx.error(item, p, "expected a string, got " + type_name(item));
      continue;
    }
    f(located(item), item, p);
  }
}

// A sequence of anything (normally mappings): `f(item, item path)`.
template <class F>
void for_each_item(const Ctx& ctx, const YAML::Node& node, const Path& path, F&& f) {
  if (!node.IsSequence()) {
    ctx.error(node, path, "expected a list, got " + type_name(node));
    return;
  }
  std::size_t i = 0;
  for (const auto& item : node) {
    ctx.visit();
    const Path p = path.at(i++);
    f(item, p);
  }
}

// Field helpers over a MapReader: leave `out` unchanged when the key is absent or invalid.
void opt_string(const MapReader& m, std::string_view key, std::string& out);
void opt_bool(const MapReader& m, std::string_view key, bool& out);
void opt_duration(const MapReader& m, std::string_view key, Seconds& out, bool allow_zero = false);
void opt_size(const MapReader& m, std::string_view key, std::uint64_t& out, bool allow_zero = false);
template <class U>
void opt_uint(const MapReader& m, std::string_view key, U& out, std::uint64_t min = 0) {
  if (auto n = m.get(key)) {
    const Path p = m.path().key(key);
    if (auto v = read_uint(m.ctx(), *n, p, min, static_cast<std::uint64_t>(static_cast<U>(-1))))
      out = static_cast<U>(*v);
  }
}
template <class E>
void opt_enum(const MapReader& m, std::string_view key, E& out,
              std::initializer_list<std::pair<std::string_view, E>> values) {
  auto n = m.get(key);
  if (!n) return;
  const Path p = m.path().key(key);
  auto s = read_string(m.ctx(), *n, p);
  if (!s) return;
  std::string choices;
  for (const auto& [name, value] : values) {
    if (*s == name) {
      out = value;
      return;
    }
    choices += choices.empty() ? "" : ", ";
    choices += name;
  }
  m.ctx().error(*n, p, "unknown value '" + *s + "' (expected one of: " + choices + ")");
}

// Value parsers shared by the sections (no reporting; the caller adds the location).
// "host", "host:port", "192.0.2.1:25", "[2001:db8::1]:25", "2001:db8::1".
Result<HostPort> parse_host_port(std::string_view text, bool require_port, bool require_ip);
// An LDH domain (not an address literal), canonical.
Result<Domain> parse_plain_domain(std::string_view text);
// "name" or "*.name", canonical ("*." + canonical domain).
Result<std::string> parse_name_or_wildcard(std::string_view text);
// "contoso.com", "*.contoso.com" or "*".
Result<DomainPattern> parse_domain_pattern(std::string_view text);
// Resolves `text` against ctx.base; absolute and lexically normal, no trailing separator.
std::string resolve_path(const std::filesystem::path& base, std::string_view text);
// Reports unless `path` names an existing, readable regular file.
void check_readable_file(const Ctx& ctx, const YAML::Node& at, const Path& p, const std::string& path);
// True for control characters other than TAB (CR, LF, NUL...): text that ends up in replies or
// headers must not carry them.
bool has_control_chars(std::string_view s);

}  // namespace mf::config::detail
