// auth/password.hpp — checks a submission password against a mailbox's `password_hash` (SPEC §4).
//
// Formats: crypt(3) SHA-512 "$6$", SHA-256 "$5$", yescrypt "$y$", bcrypt "$2b$" (libxcrypt crypt_rn),
// and argon2 "$argon2id$" / "$argon2i$" in the PHC string format (libargon2). Any other prefix, a
// malformed hash, an empty hash or a password containing NUL is a mismatch (false), never an error.
// The computed crypt(3) string is compared in constant time (CRYPTO_memcmp); libargon2 compares its
// own tag in constant time. Intermediate buffers holding the password are wiped.
//
// Cost: deliberately slow (SHA-512 crypt ~ms, yescrypt/bcrypt/argon2 tens of ms). Thread-safe (no
// shared state); callers on an event loop should know it blocks for that long.
#pragma once

#include <string_view>

namespace mf::auth {

bool verify_password(std::string_view password, std::string_view hash);

}  // namespace mf::auth
