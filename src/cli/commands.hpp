// cli/commands.hpp — one function per `mailflow` subcommand (SPEC §5). Each returns the process exit
// code: 0 ok, 1 user/config error (with a clear message), 2 service unreachable.
#pragma once

#include <string>

namespace mf::cli {

int serve(const std::string& config_path, const std::string& log_level);
int check(const std::string& config_path);

}  // namespace mf::cli
