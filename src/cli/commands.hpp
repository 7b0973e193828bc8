// cli/commands.hpp — one function per `mailflow` subcommand (SPEC §5). Each returns the process exit
// code: 0 ok, 1 user/config error (with a clear message), 2 service unreachable.
#pragma once

#include <string>

namespace mf::cli {

int serve(const std::string& config_path, const std::string& log_level);
int check(const std::string& config_path);

// `mailflow route`: a dry run of the routing decision for one transaction (SPEC §5). Sends nothing.
struct RouteOptions {
  std::string config_path;
  std::string from;            // "<>" or "" = the null sender
  std::string to;              // comma-separated recipients, in RCPT order
  std::string client_ip;       // empty = 192.0.2.1 (reported as the default)
  std::string tls_cert_name;   // a verified client certificate carrying this name
  bool tls = false;            // the client used STARTTLS (implied by tls_cert_name and auth)
  std::string subject;
  std::string auth;            // SMTP AUTH identity: a submission session
  bool json = false;
};
int route(const RouteOptions& options);

// How the admin verbs reach a running service: the admin listener and token file named by the config
// (service.admin.address, service.admin.token_file), each overridable.
struct AdminTarget {
  std::string config_path;  // read for service.admin.*; may be empty when both overrides are given
  std::string admin;        // "host:port" override
  std::string token_file;   // token file override
};

// `mailflow queue list|show ID|retry [ID]|delete ID|hold ID|release ID` (SPEC §5, Postfix's verbs).
struct QueueOptions {
  AdminTarget target;
  std::string verb;  // list, show, retry, delete, hold, release
  std::string id;    // message id (empty for list, and for retry = retry everything deferred)
  bool json = false;
};
int queue(const QueueOptions& options);

// `mailflow trace [--sender A] [--recipient A] [--message-id ID] [--since T]` (SPEC §6).
struct TraceOptions {
  AdminTarget target;
  std::string sender;
  std::string recipient;
  std::string message_id;  // the service's message id or the Message-ID header
  std::string since;       // "2026-11-23T10:00:00Z", or a duration back from now ("15m", "2h", "1d")
  bool json = false;
};
int trace(const TraceOptions& options);

// `mailflow reload`: ask the running service to re-read its configuration (same as SIGHUP).
int reload(const AdminTarget& target);

// `mailflow validate-connector NAME --to ADDR [--send]` (R-OUT-10).
struct ValidateConnectorOptions {
  std::string config_path;
  std::string connector;  // outbound connector name (case-insensitive)
  std::string to;         // recipient address used for the MX look-up and RCPT TO
  std::string from;       // MAIL FROM (default: postmaster@<service.hostname>)
  bool send = false;      // also send a short test message (DATA)
  bool json = false;
};
int validate_connector(const ValidateConnectorOptions& options);

}  // namespace mf::cli
