// Durations, sizes and the error formatting of config.hpp.
#include "config/config.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

namespace mf::config {

namespace {

// Ten years: long enough for any retry or expiry setting, and small enough that converting to
// nanoseconds (timers) cannot overflow.
constexpr std::int64_t kMaxDurationSeconds = 10LL * 365 * 24 * 3600;

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string ConfigError::str() const {
  std::string out = file;
  if (line > 0) {
    out += ":" + std::to_string(line);
    if (column > 0) out += ":" + std::to_string(column);
  }
  out += ": ";
  if (!key_path.empty()) out += key_path + ": ";
  out += message;
  return out;
}

Result<Seconds> parse_duration(std::string_view text) {
  const std::string shown(text);
  std::string_view digits = text;
  std::int64_t unit = 1;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 's': unit = 1; digits.remove_suffix(1); break;
      case 'm': unit = 60; digits.remove_suffix(1); break;
      case 'h': unit = 3600; digits.remove_suffix(1); break;
      case 'd': unit = 86400; digits.remove_suffix(1); break;
      default: break;
    }
  }
  if (!all_digits(digits))
    return make_error("invalid duration '" + shown + "' (expected a number of seconds or a number followed by s, m, h or d, e.g. 30s, 5m, 24h, 2d)");
  std::int64_t n = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc{} || n > kMaxDurationSeconds / unit)
    return make_error("duration '" + shown + "' is too long (at most " + std::to_string(kMaxDurationSeconds / 86400) + "d)");
  return Seconds{n * unit};
}

Result<std::uint64_t> parse_size(std::string_view text) {
  const std::string shown(text);
  std::size_t end = 0;
  while (end < text.size() && text[end] >= '0' && text[end] <= '9') ++end;
  std::string_view digits = text.substr(0, end);
  std::string unit = ascii_lower(text.substr(end));
  if (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  std::uint64_t mult = 0;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "k" || unit == "kb" || unit == "kib") mult = 1ULL << 10;
  else if (unit == "m" || unit == "mb" || unit == "mib") mult = 1ULL << 20;
  else if (unit == "g" || unit == "gb" || unit == "gib") mult = 1ULL << 30;
  else if (unit == "t" || unit == "tb" || unit == "tib") mult = 1ULL << 40;
  if (digits.empty() || mult == 0)
    return make_error("invalid size '" + shown + "' (expected a number of bytes, optionally followed by KB, MB, GB or TB)");
  std::uint64_t n = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc{} || n > std::numeric_limits<std::uint64_t>::max() / mult)
    return make_error("size '" + shown + "' is too large");
  return n * mult;
}

}  // namespace mf::config
