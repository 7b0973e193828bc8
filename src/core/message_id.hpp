// core/message_id.hpp — spool/queue identifiers.
//
// A MessageId is 20 characters of [0-9A-Z]: a microsecond timestamp and a per-process counter in
// base 32, so ids sort by arrival and are unique in one data_dir (the process also mixes in a random
// start value, so a restart within the same microsecond cannot collide).
#pragma once

#include <string>
#include <string_view>

namespace mf {

std::string new_message_id();
bool is_valid_message_id(std::string_view id);

}  // namespace mf
