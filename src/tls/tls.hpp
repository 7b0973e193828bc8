// tls/tls.hpp — OpenSSL contexts for the SMTP server (STARTTLS) and certificate name extraction.
//
// The server context presents service.tls.certificate/key, accepts TLS 1.2 and 1.3, and requests
// (does not require) a client certificate; the handshake never fails because of the client's
// certificate: whether it chained to a trusted CA (service.tls.ca_bundle, else the system CAs) is
// read afterwards with peer_info() and kept for attribution (R-IN-2). Errors are returned as values.
// Contexts are immutable after creation and shared by every connection (thread-safe for OpenSSL).
#pragma once

#include "config/snapshot.hpp"
#include "core/result.hpp"

#include <boost/asio/ssl/context.hpp>

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

namespace mf::tls {

Result<std::shared_ptr<boost::asio::ssl::context>> make_server_context(const config::TlsFiles& files);

// The client context for outbound STARTTLS (R-OUT-9): TLS 1.2+, trusts ca_bundle (else the system
// CAs), presents the service certificate as client certificate when `files` has one. Verification
// never fails the handshake: the result is read with peer_info() and judged by the connector's TLS
// policy (an opportunistic connector accepts any certificate).
Result<std::shared_ptr<boost::asio::ssl::context>> make_client_context(const config::TlsFiles* files);

struct PeerInfo {
  std::string version;  // "TLSv1.3"
  std::string cipher;
  bool cert_presented = false;
  bool cert_verified = false;       // chain verified to a trusted CA and in date
  std::string verify_error;         // why not ("self-signed certificate", "certificate has expired"...)
  std::vector<std::string> names;   // subject CN and DNS SANs, lower-cased, each once
  std::vector<std::string> reference_names;  // for server identity checks: DNS SANs, or the CN without any
  std::string subject;  // RFC 2253 one-line form ("CN=mail.contoso.com,O=Contoso"), for reports
  std::string issuer;   // same form
};

PeerInfo peer_info(SSL* ssl);
std::vector<std::string> certificate_names(X509* cert);
// The names a server certificate is checked against (RFC 6125 §6.4.4, catalogue H06): its DNS
// subjectAltNames, or its subject CN only when it has none.
std::vector<std::string> reference_names(X509* cert);

// RFC 6125-style match of a presented name against a reference: exact (case-insensitive), or a
// leading "*." wildcard in `presented` that covers exactly one label.
bool name_matches(std::string_view presented, std::string_view reference);

}  // namespace mf::tls
