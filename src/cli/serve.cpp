#include "cli/commands.hpp"
#include "config/config.hpp"
#include "server/server.hpp"
#include "util/log.hpp"

#include <iostream>

namespace mf::cli {

int serve(const std::string& config_path, const std::string& log_level) {
  log::setup(log_level);
  auto loaded = config::load_file(config_path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) std::cerr << e.str() << "\n";
    spdlog::critical("event=start_refused {} errors={}", log::kv("config", config_path), loaded.errors.size());
    return 1;
  }
  if (loaded.snapshot->service.listeners.empty()) {
    spdlog::critical("event=start_refused reason=\"no listeners configured\"");
    return 1;
  }
  auto server = server::Server::create(loaded.snapshot);
  if (!server) {
    spdlog::critical("event=start_refused {}", log::kv("reason", server.error().message));
    return 1;
  }
  spdlog::info("event=start {} {}", log::kv("config", loaded.snapshot->source_path),
               log::kv("hostname", loaded.snapshot->service.hostname));
  return (*server)->run();
}

}  // namespace mf::cli
