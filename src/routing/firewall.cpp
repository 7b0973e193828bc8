// routing/firewall.cpp — R-IN-8 header firewall (see firewall.hpp). Pure.
#include "routing/firewall.hpp"

namespace mf::routing {

namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string one_line(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != '\r' && c != '\n') out.push_back(c);
  }
  return out;
}

}  // namespace

bool is_organization_header(std::string_view name) {
  return name.size() > kOrganizationHeaderPrefix.size() &&
         iequals(name.substr(0, kOrganizationHeaderPrefix.size()), kOrganizationHeaderPrefix);
}

std::vector<config::HeaderValue> organization_stamps(const config::Snapshot& snapshot, const Attribution& a) {
  std::vector<config::HeaderValue> out;
  if (!a.organization || *a.organization >= snapshot.organizations.size()) return out;
  std::string how = to_string(a.kind);
  if (!a.connector.empty()) how += "; connector=" + a.connector;
  out.push_back({"X-MailFlow-Organization-Id", snapshot.organizations[*a.organization].name});
  out.push_back({"X-MailFlow-Organization-AuthAs", a.originating ? "Internal" : "Anonymous"});
  out.push_back({"X-MailFlow-Organization-MessageDirectionality", a.originating ? "Originating" : "Incoming"});
  out.push_back({"X-MailFlow-Organization-Attribution", how});
  for (auto& h : out) h.value = one_line(h.value);
  return out;
}

std::string apply_header_firewall(std::string_view data, bool keep_existing,
                                  const std::vector<config::HeaderValue>& stamps) {
  std::string out;
  out.reserve(data.size() + 64 * stamps.size());
  std::string stamp_text;
  for (const auto& s : stamps) stamp_text += one_line(s.name) + ": " + one_line(s.value) + "\r\n";
  bool stamped = stamps.empty();
  bool dropping = false;  // inside a removed field (its continuation lines go too)
  std::size_t fields = 0;
  std::size_t pos = 0;
  while (pos < data.size()) {
    const std::size_t eol = data.find("\r\n", pos);
    if (eol == pos) break;  // the empty line ending the header section
    const std::size_t next = eol == std::string_view::npos ? data.size() : eol + 2;
    const std::string_view line = data.substr(pos, next - pos);
    if (is_wsp(line.front()) && fields > 0) {  // a folded continuation of the field before
      if (!dropping) out.append(line);
      pos = next;
      continue;
    }
    if (fields == 1 && !stamped) {  // after the first field: the service's own Received:
      out += stamp_text;
      stamped = true;
    }
    ++fields;
    std::string_view name = line.substr(0, std::min(line.find(':'), line.size()));
    while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
    dropping = false;
    if (is_organization_header(name)) {
      dropping = !keep_existing;
      for (const auto& s : stamps) dropping = dropping || iequals(s.name, name);
    }
    if (!dropping) {
      out.append(line);
      if (next == data.size() && !line.ends_with("\r\n")) out += "\r\n";  // unterminated last line
    }
    pos = next;
  }
  if (!stamped) out += stamp_text;
  out.append(data.substr(pos));
  return out;
}

std::string strip_organization_headers(std::string_view data) { return apply_header_firewall(data, false, {}); }

std::string firewall_received_message(const config::Snapshot& snapshot, const ConnectionFacts& conn,
                                      const Envelope& env, std::string_view data) {
  const Attribution a = attribute(snapshot, conn, env, /*explain=*/false);
  return apply_header_firewall(data, a.on_premises, organization_stamps(snapshot, a));
}

}  // namespace mf::routing
