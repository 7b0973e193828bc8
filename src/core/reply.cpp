#include "core/reply.hpp"

#include <string>

namespace mf {

std::string Reply::wire() const {
  std::string out;
  std::string_view rest = text;
  const std::string code_str = std::to_string(code);
  while (true) {
    auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    bool last = nl == std::string_view::npos;
    out += code_str;
    out += last ? ' ' : '-';
    if (!enhanced.empty()) {
      out += enhanced;
      if (!line.empty()) out += ' ';
    }
    out += line;
    out += "\r\n";
    if (last) break;
    rest = rest.substr(nl + 1);
  }
  return out;
}

std::string Reply::one_line() const {
  std::string out = std::to_string(code);
  if (!enhanced.empty()) out += " " + enhanced;
  if (!text.empty()) {
    out += " ";
    for (char c : text) out += (c == '\n' || c == '\r') ? ' ' : c;
  }
  return out;
}

}  // namespace mf
