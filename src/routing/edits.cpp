// Header edits of mail flow rules (the contract is in edits.hpp).
//
// The header section is cut into segments — a field with its continuation lines, or a line that is
// not a field (kept as is) — each ending with its CRLF except possibly the last line of a message
// without a body. Edits mark segments dropped or give them new text; the output is the segments
// in order, the appended fields, then the rest of `data` unchanged. Only CRLF ends a line: a bare
// LF is an ordinary character of the line it is in.
#include "routing/edits.hpp"

#include "core/domain.hpp"

#include <vector>

namespace mf::routing {

namespace {

struct Segment {
  std::string name;  // field name as written (trailing WSP before ':' removed); empty: not a field
  std::string text;  // the whole segment, with its CRLF(s)
  bool keep = true;
};

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string without_line_breaks(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c != '\r' && c != '\n') out.push_back(c);
  }
  return out;
}

// Cuts data[0, end) into segments; `end` is where the header section ends.
std::vector<Segment> segments(std::string_view data, std::size_t& end) {
  std::vector<Segment> out;
  std::size_t pos = 0;
  end = data.size();
  while (pos < data.size()) {
    const std::size_t eol = data.find("\r\n", pos);
    if (eol == pos) {  // the empty line: the header/body separator
      end = pos;
      break;
    }
    const std::size_t next = eol == std::string_view::npos ? data.size() : eol + 2;
    const std::string_view line = data.substr(pos, next - pos);
    pos = next;
    if (is_wsp(line[0]) && !out.empty()) {
      out.back().text.append(line);
      continue;
    }
    Segment s;
    s.text.assign(line);
    if (!is_wsp(line[0])) {
      if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
        std::string_view name = line.substr(0, colon);
        while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
        s.name.assign(name);
      }
    }
    out.push_back(std::move(s));
  }
  return out;
}

// `Subject: <prefix><old value>`: the WSP and folds before the old value are replaced by one SP.
std::string prefixed(const std::string& text, std::string_view prefix) {
  const std::size_t colon = text.find(':');
  std::size_t p = colon + 1;
  for (;;) {
    if (p < text.size() && is_wsp(text[p])) {
      ++p;
    } else if (text.compare(p, 2, "\r\n") == 0 && p + 2 < text.size() && is_wsp(text[p + 2])) {
      p += 2;
    } else {
      break;
    }
  }
  std::string out = text.substr(0, colon);
  out += ": ";
  out += prefix;
  out.append(text, p, std::string::npos);
  return out;
}

// Appends `piece` on a line of its own: completes an unterminated last line first.
void put(std::string& out, std::string_view piece) {
  if (!out.empty() && !out.ends_with("\r\n")) out += out.back() == '\r' ? "\n" : "\r\n";
  out += piece;
}

}  // namespace

std::string apply_header_edits(std::string_view data, const HeaderEdits& edits) {
  if (edits.empty()) return std::string(data);
  std::size_t end = 0;
  std::vector<Segment> segs = segments(data, end);
  std::vector<std::string> appended;

  for (const auto& name : edits.remove_headers) {
    for (auto& s : segs) {
      if (!s.name.empty() && iequals(s.name, name)) s.keep = false;
    }
  }
  for (const auto& h : edits.set_headers) {
    const std::string name = without_line_breaks(h.name);
    if (name.empty()) continue;
    const std::string field = name + ": " + without_line_breaks(h.value) + "\r\n";
    bool first = true;
    for (auto& s : segs) {
      if (!s.keep || s.name.empty() || !iequals(s.name, name)) continue;
      if (first) {
        s.name = name;
        s.text = field;
        first = false;
      } else {
        s.keep = false;
      }
    }
    if (first) {
      // Absent from the message; an earlier set_headers entry of the same name may have added it.
      bool replaced = false;
      for (auto& a : appended) {
        if (!replaced && a.size() > name.size() && a[name.size()] == ':' && iequals(a.substr(0, name.size()), name)) {
          a = field;
          replaced = true;
        }
      }
      if (!replaced) appended.push_back(field);
    }
  }
  if (!edits.prepend_subject.empty()) {
    const std::string prefix = without_line_breaks(edits.prepend_subject);
    bool found = false;
    for (auto& s : segs) {
      if (s.keep && iequals(s.name, "Subject")) {
        s.text = prefixed(s.text, prefix);
        found = true;
      }
    }
    for (auto& a : appended) {
      if (a.size() > 7 && a[7] == ':' && iequals(a.substr(0, 7), "Subject")) {
        a = prefixed(a, prefix);
        found = true;
      }
    }
    if (!found) appended.push_back("Subject: " + prefix + "\r\n");
  }

  std::string out;
  out.reserve(data.size() + 256);
  for (const auto& s : segs) {
    if (s.keep) put(out, s.text);
  }
  for (const auto& a : appended) put(out, a);
  out.append(data.substr(end));
  return out;
}

}  // namespace mf::routing
