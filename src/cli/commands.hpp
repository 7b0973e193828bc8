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

}  // namespace mf::cli
