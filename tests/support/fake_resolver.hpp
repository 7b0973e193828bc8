// tests/support/fake_resolver.hpp — a dns::Resolver answering from tables the test fills (STYLE
// habit 5). Unknown names answer nxdomain. Every question is recorded, in order, as "MX <name>" (mx())
// or "A <name>" (addresses()), with the name as asked. Lookups ignore case and one trailing dot.
// Answers complete at once (no suspension), except MX answers for a domain given to pause_mx(): those
// wait (polling every 5 ms on the caller's executor) until resume_mx(). Not thread-safe (like the
// real resolver).
#pragma once

#include "dns/resolver.hpp"

#include <map>
#include <set>
#include <string>
#include <vector>

namespace mf::test {

class FakeResolver final : public dns::Resolver {
 public:
  void set_mx(std::string domain, dns::MxAnswer answer);
  void set_addresses(std::string host, dns::AddressAnswer answer);
  // Shorthands: an ok answer with these records / addresses ("192.0.2.1", "2001:db8::1").
  void set_mx(std::string domain, std::vector<dns::MxRecord> records);
  void set_addresses(std::string host, const std::vector<std::string>& addresses);

  boost::asio::awaitable<dns::MxAnswer> mx(std::string domain) override;
  boost::asio::awaitable<dns::AddressAnswer> addresses(std::string host) override;

  void pause_mx(std::string domain);
  void resume_mx(const std::string& domain);

  const std::vector<std::string>& queries() const { return queries_; }
  void clear_queries() { queries_.clear(); }

 private:
  std::map<std::string, dns::MxAnswer> mx_;
  std::map<std::string, dns::AddressAnswer> addresses_;
  std::vector<std::string> queries_;
  std::set<std::string> paused_;
};

}  // namespace mf::test
