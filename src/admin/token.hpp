// admin/token.hpp — the admin API's bearer token (service.admin.token_file).
//
// The service calls load_or_create_token() at start-up. When the file is absent it is created with
// 32 random bytes (OpenSSL RAND_bytes) as 64 hex digits and a newline, mode 0600, atomically: the
// token is written to a temporary file opened O_CREAT|O_EXCL with mode 0600 (then fchmod 0600, so
// the umask cannot loosen or tighten it), synced, and published with link(2), which never replaces
// an existing file (two services starting at once end up reading the same token). Missing parent
// folders are created (mode 0700).
//
// Permissions policy: the service refuses a token file that others can access in any way or that
// its group can write (mode & 0027 != 0), with an error that names the file, its mode and the fix.
// Group read (0640) is allowed so that an operators' group can run `mailflow queue` without root.
// The CLI reads the token with read_token(), which checks the contents but not the mode.
//
// A token is 16 to 4096 visible ASCII characters (no spaces); surrounding whitespace in the file is
// ignored. No I/O other than the named file and its folder; thread-safe.
#pragma once

#include "core/result.hpp"

#include <string>
#include <string_view>

namespace mf::admin {

Result<std::string> load_or_create_token(const std::string& path);
Result<std::string> read_token(const std::string& path);

// Compares a presented token with the expected one in time independent of where they differ (and of
// the presented token's length): both are hashed with SHA-256 and the digests compared with
// CRYPTO_memcmp.
bool token_equal(std::string_view presented, std::string_view expected);

}  // namespace mf::admin
