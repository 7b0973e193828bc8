// Tests for src/tls/tls.cpp: certificate name extraction and wildcard matching (used for
// attribution, R-IN-2), and server context loading errors.
#include "tls/tls.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <memory>

namespace mf::tls {
namespace {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyDeleter>;

KeyPtr make_key() { return KeyPtr(EVP_EC_gen("P-256")); }

// A self-signed certificate with the given CN and DNS SANs.
X509Ptr make_cert(EVP_PKEY* key, const std::string& cn, const std::vector<std::string>& sans) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  if (!cn.empty())
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (!sans.empty()) {
    std::string value;
    for (const auto& s : sans) value += (value.empty() ? "DNS:" : ",DNS:") + s;
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert.get(), cert.get(), nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, value.c_str());
    X509_add_ext(cert.get(), ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(cert.get(), key, EVP_sha256());
  return cert;
}

TEST(CertificateNames, CnAndSansLowerCasedOnce) {
  auto key = make_key();
  auto cert = make_cert(key.get(), "Mail.Contoso.COM", {"mail.contoso.com", "*.Contoso.com", "relay.contoso.com"});
  auto names = certificate_names(cert.get());
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(names[0], "mail.contoso.com");
  EXPECT_EQ(names[1], "*.contoso.com");
  EXPECT_EQ(names[2], "relay.contoso.com");
}

TEST(ReferenceNames, SansWinOverTheCnAndTheCnIsUsedOnlyWithoutSans) {  // security catalogue H06
  auto key = make_key();
  auto with_sans = make_cert(key.get(), "cn-only.contoso.com", {"Mail.Contoso.com", "*.contoso.com"});
  EXPECT_EQ(reference_names(with_sans.get()), (std::vector<std::string>{"mail.contoso.com", "*.contoso.com"}));
  auto without = make_cert(key.get(), "CN-Only.Contoso.com", {});
  EXPECT_EQ(reference_names(without.get()), std::vector<std::string>{"cn-only.contoso.com"});
  EXPECT_TRUE(reference_names(nullptr).empty());
}

TEST(NameMatches, ExactAndSingleLabelWildcard) {
  EXPECT_TRUE(name_matches("mail.contoso.com", "MAIL.contoso.com"));
  EXPECT_TRUE(name_matches("*.contoso.com", "mail.contoso.com"));
  EXPECT_FALSE(name_matches("*.contoso.com", "a.b.contoso.com"));  // one label only
  EXPECT_FALSE(name_matches("*.contoso.com", "contoso.com"));
  EXPECT_FALSE(name_matches("mail.contoso.com", "mail.contoso.com.evil.example"));
  EXPECT_FALSE(name_matches("*.", "x."));
}

TEST(ServerContext, LoadsMatchingPairAndRejectsMismatch) {
  auto dir = std::filesystem::temp_directory_path() / ("mf_tls_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto key = make_key();
  auto other = make_key();
  auto cert = make_cert(key.get(), "mx.test.example", {"mx.test.example"});
  auto write = [&](const std::string& file, auto fn) {
    FILE* f = std::fopen((dir / file).c_str(), "w");
    ASSERT_NE(f, nullptr);
    fn(f);
    std::fclose(f);
  };
  write("cert.pem", [&](FILE* f) { PEM_write_X509(f, cert.get()); });
  write("key.pem", [&](FILE* f) { PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr); });
  write("other.pem", [&](FILE* f) { PEM_write_PrivateKey(f, other.get(), nullptr, nullptr, 0, nullptr, nullptr); });

  config::TlsFiles good{(dir / "cert.pem").string(), (dir / "key.pem").string(), (dir / "cert.pem").string()};
  EXPECT_TRUE(make_server_context(good));
  config::TlsFiles mismatch{(dir / "cert.pem").string(), (dir / "other.pem").string(), ""};
  auto r = make_server_context(mismatch);
  ASSERT_FALSE(r);
  // OpenSSL 3 already refuses the key when loading it ("key values mismatch").
  EXPECT_NE(r.error().message.find("other.pem"), std::string::npos) << r.error().message;
  config::TlsFiles missing{(dir / "nope.pem").string(), (dir / "key.pem").string(), ""};
  EXPECT_FALSE(make_server_context(missing));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mf::tls
