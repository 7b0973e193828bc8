// cli/reload.cpp — `mailflow reload`: make the running service re-read its configuration file, like
// SIGHUP (POST /api/v1/reload). On configuration errors the service keeps the old configuration;
// the errors are printed (file:line:column: key: message) and the exit code is 1. Exit codes as for
// `mailflow queue`.
#include "cli/commands.hpp"

#include "admin/api.hpp"
#include "admin/client.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>

namespace mf::cli {

int reload(const AdminTarget& target) {
  const std::string path = std::string(admin::kApiPrefix) + "/reload";
  const admin::CliReply call = admin::cli_request("reload", target.config_path, target.admin, target.token_file,
                                                  boost::beast::http::verb::post, path);
  if (call.reply.status == 409) {
    // The service refused the new configuration: list why.
    const auto body = nlohmann::json::parse(call.reply.body, nullptr, false);
    if (body.is_object() && body.contains("errors") && body["errors"].is_array()) {
      for (const auto& e : body["errors"]) {
        if (e.is_string()) std::fprintf(stderr, "  %s\n", e.get<std::string>().c_str());
      }
    }
  }
  if (call.exit_code != 0) return call.exit_code;
  std::printf("configuration reloaded\n");
  return 0;
}

}  // namespace mf::cli
