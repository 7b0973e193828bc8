#include "tls/tls.hpp"

#include "core/domain.hpp"

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <algorithm>

namespace mf::tls {

namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

// Accept every client certificate during the handshake; the verdict is read after it
// (SSL_get_verify_result), so a wrong certificate only loses attribution, never the connection.
int accept_any(int /*preverified*/, X509_STORE_CTX* /*ctx*/) { return 1; }

}  // namespace

Result<std::shared_ptr<boost::asio::ssl::context>> make_server_context(const config::TlsFiles& files) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (SSL_CTX_use_certificate_chain_file(native, files.certificate.c_str()) != 1)
    return make_error("cannot load certificate " + files.certificate + ": " + openssl_error());
  if (SSL_CTX_use_PrivateKey_file(native, files.key.c_str(), SSL_FILETYPE_PEM) != 1)
    return make_error("cannot load private key " + files.key + ": " + openssl_error());
  if (SSL_CTX_check_private_key(native) != 1)
    return make_error("private key " + files.key + " does not match certificate " + files.certificate);
  if (!files.ca_bundle.empty()) {
    if (SSL_CTX_load_verify_locations(native, files.ca_bundle.c_str(), nullptr) != 1)
      return make_error("cannot load CA bundle " + files.ca_bundle + ": " + openssl_error());
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.ca_bundle.c_str());
    if (names != nullptr) SSL_CTX_set_client_CA_list(native, names);
  } else {
    SSL_CTX_set_default_verify_paths(native);
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, accept_any);
  // Session id context is required when client certificates are requested and sessions resumed.
  static const unsigned char sid[] = "mailflow-smtp";
  SSL_CTX_set_session_id_context(native, sid, sizeof sid - 1);
  return ctx;
}

Result<std::shared_ptr<boost::asio::ssl::context>> make_client_context(const config::TlsFiles* files) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (files != nullptr && !files->certificate.empty()) {
    if (SSL_CTX_use_certificate_chain_file(native, files->certificate.c_str()) != 1)
      return make_error("cannot load certificate " + files->certificate + ": " + openssl_error());
    if (SSL_CTX_use_PrivateKey_file(native, files->key.c_str(), SSL_FILETYPE_PEM) != 1)
      return make_error("cannot load private key " + files->key + ": " + openssl_error());
  }
  if (files != nullptr && !files->ca_bundle.empty()) {
    if (SSL_CTX_load_verify_locations(native, files->ca_bundle.c_str(), nullptr) != 1)
      return make_error("cannot load CA bundle " + files->ca_bundle + ": " + openssl_error());
  } else {
    SSL_CTX_set_default_verify_paths(native);
  }
  SSL_CTX_set_verify(native, SSL_VERIFY_PEER, accept_any);
  return ctx;
}

namespace {

// DNS subjectAltNames of `cert`, lower-cased, each once (entries with an embedded NUL are dropped).
std::vector<std::string> dns_sans(X509* cert) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (sans == nullptr) return names;
  for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
    if (gn->type != GEN_DNS) continue;
    const ASN1_IA5STRING* s = gn->d.dNSName;
    std::string v(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), static_cast<std::size_t>(ASN1_STRING_length(s)));
    if (v.find('\0') != std::string::npos || v.empty()) continue;
    v = ascii_lower(v);
    if (std::find(names.begin(), names.end(), v) == names.end()) names.push_back(std::move(v));
  }
  GENERAL_NAMES_free(sans);
  return names;
}

// Subject common names of `cert`, lower-cased, each once (a CN with an embedded NUL is never trusted).
std::vector<std::string> common_names(X509* cert) {
  std::vector<std::string> names;
  X509_NAME* subject = X509_get_subject_name(cert);
  int idx = -1;
  while ((idx = X509_NAME_get_index_by_NID(subject, NID_commonName, idx)) >= 0) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    unsigned char* utf8 = nullptr;
    const int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len > 0) {
      std::string n = ascii_lower(std::string(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len)));
      if (n.find('\0') == std::string::npos && !n.empty() && std::find(names.begin(), names.end(), n) == names.end())
        names.push_back(std::move(n));
    }
    OPENSSL_free(utf8);
  }
  return names;
}

// RFC 2253 one-line text of a certificate name (for reports; never used for decisions).
std::string name_text(const X509_NAME* name) {
  if (name == nullptr) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out = len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
  BIO_free(bio);
  return out;
}

}  // namespace

std::vector<std::string> reference_names(X509* cert) {
  if (cert == nullptr) return {};
  auto sans = dns_sans(cert);
  if (!sans.empty()) return sans;  // RFC 6125 §6.4.4: the CN is used only without DNS SANs
  return common_names(cert);
}

std::vector<std::string> certificate_names(X509* cert) {
  if (cert == nullptr) return {};
  std::vector<std::string> names = common_names(cert);
  for (auto& san : dns_sans(cert)) {
    if (std::find(names.begin(), names.end(), san) == names.end()) names.push_back(std::move(san));
  }
  return names;
}

PeerInfo peer_info(SSL* ssl) {
  PeerInfo info;
  info.version = SSL_get_version(ssl);
  if (const SSL_CIPHER* c = SSL_get_current_cipher(ssl)) info.cipher = SSL_CIPHER_get_name(c);
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (cert != nullptr) {
    info.cert_presented = true;
    const long verify = SSL_get_verify_result(ssl);
    info.cert_verified = verify == X509_V_OK;
    if (!info.cert_verified) info.verify_error = X509_verify_cert_error_string(verify);
    info.names = certificate_names(cert);
    info.reference_names = reference_names(cert);
    info.subject = name_text(X509_get_subject_name(cert));
    info.issuer = name_text(X509_get_issuer_name(cert));
    X509_free(cert);
  }
  return info;
}

bool name_matches(std::string_view presented, std::string_view reference) {
  if (presented.size() > 2 && presented.substr(0, 2) == "*.") {
    auto dot = reference.find('.');
    if (dot == std::string_view::npos || dot == 0) return false;
    return iequals(presented.substr(2), reference.substr(dot + 1));
  }
  return iequals(presented, reference);
}

}  // namespace mf::tls
