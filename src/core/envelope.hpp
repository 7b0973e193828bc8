// core/envelope.hpp — the SMTP envelope of one message, with RFC 3461 DSN parameters.
#pragma once

#include "core/address.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace mf {

enum class BodyType { seven_bit, eight_bit_mime, binary_mime };

// RFC 3461 NOTIFY flags; none set means "not given" (default behaviour: failure, per RFC 3461 §4.1).
enum NotifyFlags : unsigned {
  notify_none = 0,
  notify_never = 1,
  notify_success = 2,
  notify_failure = 4,
  notify_delay = 8,
};

struct EnvelopeRecipient {
  Address address;
  unsigned notify = notify_none;
  std::string orcpt;  // decoded ORCPT value "rfc822;user@example" (xtext decoded, validated), or empty
};

struct Envelope {
  std::optional<Address> sender;  // nullopt is the null reverse-path <>
  std::vector<EnvelopeRecipient> recipients;
  BodyType body = BodyType::seven_bit;
  bool smtputf8 = false;
  std::string ret;    // "FULL", "HDRS" or empty (RFC 3461 RET)
  std::string envid;  // decoded ENVID, or empty
  std::optional<std::uint64_t> declared_size;  // SIZE=
};

// Facts about the SMTP connection a message arrived on (what attribution needs later).
struct ConnectionFacts {
  std::string listener;     // listener name from config
  std::string client_ip;    // textual IP ("192.0.2.1", "2001:db8::1")
  std::uint16_t client_port = 0;
  std::string helo;         // EHLO/HELO argument as given (sanitised)
  bool tls = false;
  std::string tls_version;  // "TLSv1.3"
  std::string tls_cipher;
  bool client_cert_verified = false;        // chain verified against the CA bundle
  std::vector<std::string> client_cert_names;  // subject CN and DNS SANs, lower-cased
  std::string authenticated_user;           // SMTP AUTH identity (submission), empty if none
  // Set on messages the service generates (NDRs, listener "ndr"): the organization they belong to
  // (R-NDR-1); empty otherwise (attribution is computed from the facts above).
  std::string organization;
};

}  // namespace mf
