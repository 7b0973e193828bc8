#include "util/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace mf::log {

void setup(std::string_view level) {
  auto logger = spdlog::stderr_logger_mt("mailflow");
  logger->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      "%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc));
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

std::string escape(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c < 0x20 || c == 0x7f) {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

std::string kv(std::string_view name, std::string_view value) {
  std::string esc = escape(value);
  bool quote = esc.empty() || esc.find_first_of(" =\"") != std::string::npos;
  std::string out(name);
  out.push_back('=');
  if (quote) out.push_back('"');
  out += esc;
  if (quote) out.push_back('"');
  return out;
}

std::string kv(std::string_view name, long long value) {
  return std::string(name) + "=" + std::to_string(value);
}

}  // namespace mf::log
