#!/bin/sh
# make-certs.sh [OUTDIR] — the TLS material of the hybrid lab (lab use only: unencrypted keys).
#
#   OUTDIR/ca.pem, ca.key          "contoso hybrid lab CA" (both instances trust it: service.tls.ca_bundle)
#   OUTDIR/cloud.pem, cloud.key    CN and SAN cloud.contoso.com  (the "Exchange Online" instance)
#   OUTDIR/onprem.pem, onprem.key  CN and SAN mail.contoso.com   (the on-premises instance)
#
# The server certificates carry extendedKeyUsage serverAuth and clientAuth: each instance offers its
# certificate for STARTTLS and presents the same one as its client certificate when it relays to the
# other side, where the certificate-based inbound connector (tls_sender_certificate_name) matches it.
#
# OUTDIR defaults to the certs/ folder next to this script (git-ignored). Existing files are
# overwritten. Needs the openssl command (1.1.1 or 3.x).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/certs"}
days=${MAKE_CERTS_DAYS:-825}
mkdir -p "$out"
cd "$out"

umask 077
cat > openssl.cnf <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[cloud]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:cloud.contoso.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[onprem]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = DNS:mail.contoso.com
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF

# Run openssl quietly; show its output only when it fails.
ossl() {
  if ! openssl "$@" > openssl.log 2>&1; then
    cat openssl.log >&2
    echo "make-certs.sh: openssl $1 failed" >&2
    exit 1
  fi
}
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

# shellcheck disable=SC2086  # $ec is a list of options
ossl req -config openssl.cnf -x509 -new $ec -keyout ca.key -out ca.pem -days "$days" \
  -subj "/CN=contoso hybrid lab CA" -extensions v3_ca

serial=$(date +%s)
for pair in cloud:cloud.contoso.com onprem:mail.contoso.com; do
  name=${pair%%:*}
  cn=${pair#*:}
  serial=$((serial + 1))
  # shellcheck disable=SC2086
  ossl req -config openssl.cnf -new $ec -keyout "$name.key" -out "$name.csr" -subj "/CN=$cn"
  ossl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -set_serial "$serial" -days "$days" \
    -out "$name.pem" -extfile openssl.cnf -extensions "$name"
  rm -f "$name.csr"
done
rm -f openssl.cnf openssl.log
chmod 644 ca.pem cloud.pem onprem.pem
echo "certificates written to $out: ca.pem cloud.pem/.key (cloud.contoso.com) onprem.pem/.key (mail.contoso.com)"
