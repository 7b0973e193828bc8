// config/loader.hpp — internal to config/: the section parsers and the cross-section state.
//
// The loader reads the document section by section in a fixed order (service, then per
// organization: accepted domains, recipients, connectors, rules) whatever the key order in the
// file, so that later sections can check references to earlier ones. Items with errors are still
// added to the snapshot being built, so that one mistake does not cascade into "missing" errors;
// the snapshot is thrown away when any error was reported.
#pragma once

#include "config/reader.hpp"

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace mf::config::detail {

// What the loader remembers across organizations to report duplicates and conflicts.
struct State {
  explicit State(Snapshot& s) : snap(s) {}
  Snapshot& snap;

  std::unordered_map<std::string, std::string> org_names;     // lower-case name → where defined
  std::unordered_map<std::string, std::string> domain_where;  // "x" or "*.x" → where defined

  struct OrgInfo {
    // recipients[i] below this index, recipients_file[i - n] from it on (all inline until the
    // inline list has been read).
    std::size_t inline_recipients = static_cast<std::size_t>(-1);
    std::string recipients_file;         // absolute path, empty when none
    std::vector<std::uint32_t> recipient_lines;  // line of each recipient in its file
  };
  std::vector<OrgInfo> orgs;

  // R-IN-3 config check: on_premises inbound connectors' IP ranges and certificate names.
  struct OnPremRange {
    std::size_t org;
    Cidr cidr;
    std::string where;
  };
  std::vector<OnPremRange> onprem_ranges;
  struct OnPremCert {
    std::size_t org;
    std::string where;
  };
  std::unordered_map<std::string, OnPremCert> onprem_certs;

  // "organizations[0].recipients[3] (line 12)" for an indexed recipient.
  std::string describe(const RecipientRef& ref) const;
};

// "organizations[2].accepted_domains[0] (line 14)" style reference to an earlier definition.
std::string where(const Path& p, int line);

void parse_service(const Ctx& ctx, const YAML::Node& node, const Path& path, Service& out);
// Appends one organization to state.snap.organizations and indexes it.
void parse_organization(const Ctx& ctx, const YAML::Node& node, const Path& path, State& state);

// Organization sections (the organization is state.snap.organizations[org]).
void parse_recipients(const Ctx& ctx, const MapReader& org_map, State& state, std::size_t org);
void parse_recipients_file(const Ctx& ctx, const MapReader& org_map, State& state, std::size_t org);
void parse_outbound_connectors(const Ctx& ctx, const MapReader& org_map, State& state, std::size_t org);
void parse_inbound_connectors(const Ctx& ctx, const MapReader& org_map, State& state, std::size_t org);
void parse_transport_rules(const Ctx& ctx, const MapReader& org_map, State& state, std::size_t org);

}  // namespace mf::config::detail
