#include "cli/commands.hpp"
#include "config/config.hpp"

#include <iostream>

namespace mf::cli {

int check(const std::string& config_path) {
  auto loaded = config::load_file(config_path);
  if (!loaded.ok()) {
    for (const auto& e : loaded.errors) std::cerr << e.str() << "\n";
    std::cerr << config_path << ": " << loaded.errors.size() << " error"
              << (loaded.errors.size() == 1 ? "" : "s") << "\n";
    return 1;
  }
  const auto& snap = *loaded.snapshot;
  std::size_t domains = 0, recipients = 0;
  for (const auto& o : snap.organizations) {
    domains += o.accepted_domains.size();
    recipients += o.recipients.size();
  }
  std::cout << config_path << ": configuration OK (" << snap.organizations.size() << " organizations, "
            << domains << " accepted domains, " << recipients << " recipients, "
            << snap.service.listeners.size() << " listeners)\n";
  return 0;
}

}  // namespace mf::cli
