// tests/support/fake_resolver.cpp — see fake_resolver.hpp.
#include "support/fake_resolver.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cctype>
#include <chrono>
#include <stdexcept>

namespace mf::test {
namespace {

std::string key(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

}  // namespace

void FakeResolver::set_mx(std::string domain, dns::MxAnswer answer) { mx_[key(std::move(domain))] = std::move(answer); }

void FakeResolver::set_addresses(std::string host, dns::AddressAnswer answer) {
  addresses_[key(std::move(host))] = std::move(answer);
}

void FakeResolver::set_mx(std::string domain, std::vector<dns::MxRecord> records) {
  set_mx(std::move(domain), dns::MxAnswer{dns::Status::ok, std::move(records), {}});
}

void FakeResolver::set_addresses(std::string host, const std::vector<std::string>& addresses) {
  dns::AddressAnswer a{dns::Status::ok, {}, {}};
  for (const std::string& text : addresses) {
    auto ip = IpAddress::parse(text);
    if (!ip) throw std::invalid_argument("FakeResolver: bad address " + text);
    a.addresses.push_back(*ip);
  }
  set_addresses(std::move(host), std::move(a));
}

void FakeResolver::pause_mx(std::string domain) { paused_.insert(key(std::move(domain))); }

void FakeResolver::resume_mx(const std::string& domain) { paused_.erase(key(domain)); }

boost::asio::awaitable<dns::MxAnswer> FakeResolver::mx(std::string domain) {
  queries_.push_back("MX " + domain);
  if (paused_.contains(key(domain))) {
    boost::asio::steady_timer wait(co_await boost::asio::this_coro::executor);
    while (paused_.contains(key(domain))) {
      wait.expires_after(std::chrono::milliseconds(5));
      co_await wait.async_wait(boost::asio::use_awaitable);
    }
  }
  if (auto it = mx_.find(key(domain)); it != mx_.end()) co_return it->second;
  co_return dns::MxAnswer{dns::Status::nxdomain, {}, "NXDOMAIN"};
}

boost::asio::awaitable<dns::AddressAnswer> FakeResolver::addresses(std::string host) {
  queries_.push_back("A " + host);
  if (auto it = addresses_.find(key(host)); it != addresses_.end()) co_return it->second;
  co_return dns::AddressAnswer{dns::Status::nxdomain, {}, "NXDOMAIN"};
}

}  // namespace mf::test
