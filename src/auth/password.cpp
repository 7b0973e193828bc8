#include "auth/password.hpp"

#include <argon2.h>
#include <crypt.h>
#include <openssl/crypto.h>

#include <array>
#include <cstring>
#include <memory>
#include <string>

namespace mf::auth {

namespace {

// The crypt(3) prefixes config/recipients.cpp accepts. Others (DES, MD5 "$1$", NT) are refused even
// though libxcrypt could compute them: they are too weak to protect a mailbox.
constexpr std::array<std::string_view, 4> kCryptPrefixes{"$6$", "$5$", "$y$", "$2b$"};

// A std::string that is wiped before its memory is released.
struct Wiped {
  std::string s;
  explicit Wiped(std::string_view v) : s(v) {}
  ~Wiped() { OPENSSL_cleanse(s.data(), s.size()); }
  Wiped(const Wiped&) = delete;
  Wiped& operator=(const Wiped&) = delete;
};

bool verify_crypt(const std::string& password, const std::string& hash) {
  // struct crypt_data is ~32 KiB: on the heap, zeroed as crypt_rn requires, wiped afterwards.
  auto data = std::make_unique<crypt_data>();
  std::memset(data.get(), 0, sizeof(crypt_data));
  const char* out = crypt_rn(password.c_str(), hash.c_str(), data.get(), static_cast<int>(sizeof(crypt_data)));
  bool match = false;
  if (out != nullptr && out[0] != '*') {  // '*': libxcrypt's failure token (crypt_rn returns NULL instead)
    const std::size_t n = std::strlen(out);
    match = n == hash.size() && CRYPTO_memcmp(out, hash.data(), n) == 0;
  }
  OPENSSL_cleanse(data.get(), sizeof(crypt_data));
  return match;
}

}  // namespace

bool verify_password(std::string_view password, std::string_view hash) {
  if (hash.empty() || password.find('\0') != std::string_view::npos || hash.find('\0') != std::string_view::npos) {
    return false;
  }
  const Wiped pw(password);
  const std::string encoded(hash);
  if (hash.starts_with("$argon2id$")) {
    return argon2id_verify(encoded.c_str(), pw.s.data(), pw.s.size()) == ARGON2_OK;
  }
  if (hash.starts_with("$argon2i$")) {
    return argon2i_verify(encoded.c_str(), pw.s.data(), pw.s.size()) == ARGON2_OK;
  }
  for (std::string_view prefix : kCryptPrefixes) {
    if (hash.starts_with(prefix)) return verify_crypt(pw.s, encoded);
  }
  return false;
}

}  // namespace mf::auth
