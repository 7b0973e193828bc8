// trace/event.cpp — event names and the Message-ID scanner (see event.hpp).
#include "trace/event.hpp"

#include <array>
#include <cctype>

namespace mf::trace {

namespace {

constexpr std::array<const char*, 12> kNames = {"RECEIVE", "RESOLVE", "EXPAND", "REDIRECT", "TRANSPORT_RULE",
                                                "BIFURCATE", "SEND", "DELIVER", "DEFER", "FAIL", "DROP", "NDR"};

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  }
  return true;
}

bool blank(char c) { return c == ' ' || c == '\t'; }

}  // namespace

const char* to_string(EventType t) {
  const auto i = static_cast<std::size_t>(t);
  return i < kNames.size() ? kNames[i] : "UNKNOWN";
}

std::optional<EventType> event_type_from_string(std::string_view s) {
  for (std::size_t i = 0; i < kNames.size(); ++i) {
    if (starts_with_ci(s, kNames[i]) && s.size() == std::string_view(kNames[i]).size())
      return static_cast<EventType>(i);
  }
  return std::nullopt;
}

std::string internet_message_id(std::string_view message) {
  // Walk the header section line by line (CRLF or bare LF); a field continues on lines that start
  // with a blank (folding). Stops at the empty line that ends the header section.
  std::size_t pos = 0;
  while (pos < message.size()) {
    std::size_t eol = message.find('\n', pos);
    if (eol == std::string_view::npos) eol = message.size();
    std::string_view line = message.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // end of the header section
    pos = eol + 1;
    if (!starts_with_ci(line, "message-id")) continue;
    std::string_view rest = line.substr(10);
    while (!rest.empty() && blank(rest.front())) rest.remove_prefix(1);
    if (rest.empty() || rest.front() != ':') continue;
    // The value: this line after the colon plus its continuation lines, blanks and CR/LF removed.
    std::string value(rest.substr(1));
    while (pos < message.size() && blank(message[pos])) {
      std::size_t next = message.find('\n', pos);
      if (next == std::string_view::npos) next = message.size();
      value.append(message.substr(pos, next - pos));
      pos = next + 1;
    }
    std::string out;
    for (char c : value) {
      if (c != '\r' && c != '\n' && !blank(c)) out.push_back(c);
    }
    if (auto lt = out.find('<'); lt != std::string::npos) {
      auto gt = out.find('>', lt + 1);
      out = out.substr(lt + 1, gt == std::string::npos ? std::string::npos : gt - lt - 1);
    }
    return out;
  }
  return {};
}

}  // namespace mf::trace
