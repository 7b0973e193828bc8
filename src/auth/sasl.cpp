#include "auth/sasl.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <limits>

namespace mf::auth {

namespace {

bool is_b64_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

}  // namespace

std::optional<std::string> base64_decode(std::string_view text) {
  if (text.empty()) return std::string();
  if (text.size() % 4 != 0 || text.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return std::nullopt;
  }
  // EVP_DecodeBlock trims surrounding whitespace and decodes '=' as zero bits anywhere, so the syntax
  // is checked here first: alphabet, and padding only at the end.
  std::size_t padding = 0;
  if (text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
  for (std::size_t i = 0; i < text.size() - padding; ++i) {
    if (!is_b64_char(text[i])) return std::nullopt;
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0 || static_cast<std::size_t>(n) != out.size()) {
    wipe(out);
    return std::nullopt;
  }
  out.resize(out.size() - padding);  // EVP_DecodeBlock counts the padding as decoded zero octets
  // Non-zero unused bits in the last group ("QR==") decode, but are not the canonical encoding.
  if (base64_encode(out) != text) {
    wipe(out);
    return std::nullopt;
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');  // + the NUL EVP_EncodeBlock writes
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<PlainCredentials> parse_plain(std::string_view message) {
  const std::size_t first = message.find('\0');
  if (first == std::string_view::npos) return std::nullopt;
  const std::size_t second = message.find('\0', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  std::string_view authzid = message.substr(0, first);
  std::string_view authcid = message.substr(first + 1, second - first - 1);
  std::string_view password = message.substr(second + 1);
  if (password.find('\0') != std::string_view::npos) return std::nullopt;  // a third NUL
  if (authcid.empty() || password.empty()) return std::nullopt;
  if (authzid.size() > kMaxPlainField || authcid.size() > kMaxPlainField || password.size() > kMaxPlainField) {
    return std::nullopt;
  }
  return PlainCredentials{std::string(authzid), std::string(authcid), std::string(password)};
}

void wipe(std::string& s) {
  OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

}  // namespace mf::auth
