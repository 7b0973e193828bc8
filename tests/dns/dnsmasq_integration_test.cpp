// Real-peer tests for dns/resolver.hpp (make_unbound_resolver): libunbound against dnsmasq on
// loopback — MX with several preferences, nodata, AAAA-before-A ordering, NXDOMAIN, SERVFAIL,
// timeout, cache, destruction with queries in flight. Everything binds to 127.0.0.0/8 only; each
// test starts its own dnsmasq on a random 127.0.53.x address and a free port (safe under ctest -j).
// The zone is "mftest.", not "test.": libunbound answers the RFC 6761 names (test., invalid.,
// localhost., onion.) itself with NXDOMAIN (its default local-zones) and never forwards them.
#include "dns/resolver.hpp"

#include "dns_test_util.hpp"
#include "support/fake_clock.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <optional>
#include <random>
#include <thread>

namespace mf::dns {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test::run_awaitable;

constexpr const char* dnsmasq_path = "/usr/sbin/dnsmasq";

std::mt19937& rng() {
  static std::mt19937 r{std::random_device{}()};
  return r;
}

sockaddr_in loopback(const std::string& ip, std::uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &sa.sin_addr);
  return sa;
}

// A socket bound to ip:0 (UDP or TCP); returns its fd and port, or -1.
int bind_socket(const std::string& ip, int type, std::uint16_t port, std::uint16_t* bound_port) {
  int fd = ::socket(AF_INET, type, 0);
  if (fd < 0) return -1;
  sockaddr_in sa = loopback(ip, port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  if (bound_port != nullptr) *bound_port = ntohs(sa.sin_port);
  return fd;
}

// A UDP port on ip where nothing listens (bound then closed; nobody else binds 127.0.53.x/our ports).
std::uint16_t free_port(const std::string& ip) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    std::uint16_t port = 0;
    int udp = bind_socket(ip, SOCK_DGRAM, 0, &port);
    if (udp < 0) continue;
    int tcp = bind_socket(ip, SOCK_STREAM, port, nullptr);  // dnsmasq needs both
    ::close(udp);
    if (tcp < 0) continue;
    ::close(tcp);
    return port;
  }
  return 0;
}

std::string random_loopback() {
  std::uniform_int_distribution<int> d(2, 254);
  return "127.0.53." + std::to_string(d(rng()));
}

// A dnsmasq child process serving the given records; killed in the destructor.
class Dnsmasq {
 public:
  explicit Dnsmasq(std::vector<std::string> records) : records_(std::move(records)) {
    for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) start();
  }
  ~Dnsmasq() { stop(); }
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  bool running() const { return pid_ > 0; }
  config::DnsSettings settings() const {
    return config::DnsSettings{{config::HostPort{address_, port_, true}}};
  }

  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      std::this_thread::sleep_for(10ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  void start() {
    address_ = random_loopback();
    port_ = free_port(address_);
    if (port_ == 0) return;
    std::vector<std::string> args{dnsmasq_path,       "--no-daemon",     "--no-resolv",   "--no-hosts",
                                  "--bind-interfaces", "--listen-address=" + address_,
                                  "--port=" + std::to_string(port_), "--user=root",   "--pid-file=",
                                  "--conf-file=/dev/null", "--local-ttl=300", "--log-facility=-"};
    args.insert(args.end(), records_.begin(), records_.end());
    const pid_t pid = ::fork();
    if (pid < 0) return;
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive a test process that was killed
      int devnull = ::open("/dev/null", O_RDWR);
      if (devnull >= 0 && !::getenv("MAILFLOW_DNSMASQ_VERBOSE")) {
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
      }
      std::vector<char*> argv;
      for (std::string& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(dnsmasq_path, argv.data());
      ::_exit(127);
    }
    pid_ = pid;
    // Ready when its TCP port accepts (it binds UDP and TCP together at start).
    for (int i = 0; i < 500; ++i) {
      if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {  // exited: port taken or bad option
        pid_ = -1;
        return;
      }
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in sa = loopback(address_, port_);
      const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
      ::close(fd);
      if (up) return;
      std::this_thread::sleep_for(10ms);
    }
    stop();
  }

  std::vector<std::string> records_;
  std::string address_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

std::vector<std::string> strs(const std::vector<IpAddress>& ips) {
  std::vector<std::string> out;
  for (const IpAddress& ip : ips) out.push_back(ip.str());
  return out;
}

class DnsmasqTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access(dnsmasq_path, X_OK) != 0) GTEST_SKIP() << "dnsmasq not installed (package dnsmasq-base)";
    server_ = std::make_unique<Dnsmasq>(std::vector<std::string>{
        "--local=/mftest/",
        "--mx-host=multi.mftest,mx20.multi.mftest,20",
        "--mx-host=multi.mftest,MX10.multi.mftest,10",
        "--mx-host=multi.mftest,mx30.multi.mftest,30",
        "--host-record=aonly.mftest,192.0.2.20",
        "--host-record=dual.mftest,192.0.2.10,2001:db8::10",
        "--host-record=dual.mftest,192.0.2.11,2001:db8::11",
        "--host-record=v6only.mftest,2001:db8::6",
        "--mx-host=nullmx.mftest,.,0",
        "--server=/broken.mftest/127.0.0.1#" + std::to_string(dead_port()),
    });
    ASSERT_TRUE(server_->running()) << "dnsmasq did not start (run with MAILFLOW_DNSMASQ_VERBOSE=1)";
    resolver_ = make_unbound_resolver(io_.get_executor(), server_->settings(), clock_, 5s);
  }

  static std::uint16_t dead_port() {
    static const std::uint16_t port = free_port("127.0.0.1");
    return port;
  }

  MxAnswer mx(const std::string& d) { return run_awaitable(io_, resolver_->mx(d)); }
  AddressAnswer addresses(const std::string& h) { return run_awaitable(io_, resolver_->addresses(h)); }

  asio::io_context io_;
  mf::test::FakeClock clock_;
  std::unique_ptr<Dnsmasq> server_;
  std::unique_ptr<Resolver> resolver_;
};

TEST_F(DnsmasqTest, MxWithSeveralPreferences) {
  MxAnswer a = mx("multi.mftest");
  ASSERT_EQ(a.status, Status::ok) << a.error;
  std::vector<MxRecord> got = a.records;
  std::sort(got.begin(), got.end(), [](const MxRecord& x, const MxRecord& y) { return x.preference < y.preference; });
  EXPECT_EQ(got, (std::vector<MxRecord>{{10, "mx10.multi.mftest"}, {20, "mx20.multi.mftest"}, {30, "mx30.multi.mftest"}}));
}

TEST_F(DnsmasqTest, NullMxIsReported) {
  MxAnswer a = mx("nullmx.mftest");  // dnsmasq serves "0 ." for --mx-host=nullmx.mftest,.,0
  EXPECT_EQ(a.status, Status::null_mx) << a.error;
  EXPECT_TRUE(a.records.empty());
}

TEST_F(DnsmasqTest, NameWithOnlyAIsNodataForMx) {
  MxAnswer a = mx("aonly.mftest");
  EXPECT_EQ(a.status, Status::nodata) << a.error;
  EXPECT_TRUE(a.records.empty());
  AddressAnswer addrs = addresses("aonly.mftest");
  ASSERT_EQ(addrs.status, Status::ok) << addrs.error;
  EXPECT_EQ(strs(addrs.addresses), std::vector<std::string>{"192.0.2.20"});
}

TEST_F(DnsmasqTest, AaaaComeBeforeA) {
  AddressAnswer a = addresses("dual.mftest");
  ASSERT_EQ(a.status, Status::ok) << a.error;
  std::vector<std::string> got = strs(a.addresses);
  ASSERT_EQ(got.size(), 4u);
  // v6 first, then v4 (each family in the server's order, which dnsmasq may rotate).
  EXPECT_TRUE(a.addresses[0].v6 && a.addresses[1].v6) << ::testing::PrintToString(got);
  EXPECT_TRUE(!a.addresses[2].v6 && !a.addresses[3].v6) << ::testing::PrintToString(got);
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, (std::vector<std::string>{"192.0.2.10", "192.0.2.11", "2001:db8::10", "2001:db8::11"}));
  AddressAnswer v6 = addresses("v6only.mftest");
  ASSERT_EQ(v6.status, Status::ok) << v6.error;
  EXPECT_EQ(strs(v6.addresses), std::vector<std::string>{"2001:db8::6"});
}

TEST_F(DnsmasqTest, UnknownNameIsNxdomain) {
  MxAnswer m = mx("nosuch.mftest");
  EXPECT_EQ(m.status, Status::nxdomain) << m.error;
  EXPECT_EQ(m.error, "NXDOMAIN");
  AddressAnswer a = addresses("nosuch.mftest");
  EXPECT_EQ(a.status, Status::nxdomain) << a.error;
}

TEST_F(DnsmasqTest, UnreachableUpstreamIsTempFail) {
  // dnsmasq keeps retrying its dead upstream and answers nothing: our timeout decides.
  auto resolver = make_unbound_resolver(io_.get_executor(), server_->settings(), clock_, 1s);
  const auto start = std::chrono::steady_clock::now();
  MxAnswer m = run_awaitable(io_, resolver->mx("x.broken.mftest"));
  EXPECT_EQ(m.status, Status::temp_fail) << m.error;
  EXPECT_FALSE(m.error.empty());
  // temp_fail is not cached: the next query is asked again (and fails again).
  EXPECT_EQ(run_awaitable(io_, resolver->mx("x.broken.mftest")).status, Status::temp_fail);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 6s);
}

TEST_F(DnsmasqTest, CachedAnswerIsServedWithoutAskingAgain) {
  ASSERT_EQ(mx("multi.mftest").status, Status::ok);
  ASSERT_EQ(addresses("dual.mftest").status, Status::ok);
  ASSERT_EQ(mx("nosuch.mftest").status, Status::nxdomain);
  server_->stop();  // from now on, any question to the server would time out
  clock_.advance(250s);  // within the 300 s TTL of dnsmasq's answers (--local-ttl=300)
  const auto start = std::chrono::steady_clock::now();
  MxAnswer m = mx("multi.mftest");
  EXPECT_EQ(m.status, Status::ok) << m.error;
  EXPECT_EQ(m.records.size(), 3u);
  EXPECT_EQ(addresses("dual.mftest").addresses.size(), 4u);
  EXPECT_EQ(mx("nosuch.mftest").status, Status::nxdomain);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
}

// A UDP "server" on 127.0.0.1 that answers every query with SERVFAIL: it echoes the query with the
// QR and RA bits set and RCODE 2 (header bytes only; nothing is parsed).
class ServfailServer {
 public:
  ServfailServer() : fd_(bind_socket("127.0.0.1", SOCK_DGRAM, 0, &port_)) {
    if (fd_ >= 0) thread_ = std::thread([this] { loop(); });
  }
  ~ServfailServer() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) ::close(fd_);
  }
  std::uint16_t port() const { return port_; }
  int answered() const { return answered_; }

 private:
  void loop() {
    timeval tv{0, 50'000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::uint8_t buf[1500];
    while (!stop_) {
      sockaddr_in from{};
      socklen_t len = sizeof from;
      const ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 12) continue;
      buf[2] |= 0x80;                                            // QR
      buf[3] = static_cast<std::uint8_t>((buf[3] & 0x70) | 0x80 | 2);  // RA, RCODE = SERVFAIL
      ::sendto(fd_, buf, static_cast<std::size_t>(n), 0, reinterpret_cast<sockaddr*>(&from), len);
      ++answered_;
    }
  }

  std::uint16_t port_ = 0;
  int fd_;
  std::atomic<bool> stop_{false};
  std::atomic<int> answered_{0};
  std::thread thread_;
};

TEST(UnboundResolverTest, ServfailIsTempFailAndNotCached) {
  ServfailServer server;
  ASSERT_NE(server.port(), 0);
  asio::io_context io;
  mf::test::FakeClock clock;
  auto resolver =
      make_unbound_resolver(io.get_executor(), {{config::HostPort{"127.0.0.1", server.port(), true}}}, clock, 5s);
  MxAnswer m = run_awaitable(io, resolver->mx("example.mftest"));
  EXPECT_EQ(m.status, Status::temp_fail);
  EXPECT_EQ(m.error, "SERVFAIL");
  AddressAnswer a = run_awaitable(io, resolver->addresses("example.mftest"));
  EXPECT_EQ(a.status, Status::temp_fail);
  EXPECT_EQ(a.error, "SERVFAIL");
  EXPECT_GE(server.answered(), 3);
}

TEST(UnboundResolverTest, SilentServerTimesOut) {
  std::uint16_t port = 0;
  const int fd = bind_socket("127.0.0.1", SOCK_DGRAM, 0, &port);  // reads nothing, answers nothing
  ASSERT_GE(fd, 0);
  asio::io_context io;
  mf::test::FakeClock clock;
  auto resolver = make_unbound_resolver(io.get_executor(), {{config::HostPort{"127.0.0.1", port, true}}}, clock, 300ms);
  const auto start = std::chrono::steady_clock::now();
  MxAnswer m = run_awaitable(io, resolver->mx("example.mftest"));
  EXPECT_EQ(m.status, Status::temp_fail);
  EXPECT_EQ(m.error, "timed out");
  AddressAnswer a = run_awaitable(io, resolver->addresses("example.mftest"));
  EXPECT_EQ(a.status, Status::temp_fail);
  EXPECT_EQ(a.error, "timed out");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
  ::close(fd);
}

TEST(UnboundResolverTest, DestroyingTheResolverResumesQueriesWithCancelled) {
  std::uint16_t port = 0;
  const int fd = bind_socket("127.0.0.1", SOCK_DGRAM, 0, &port);
  ASSERT_GE(fd, 0);
  asio::io_context io;
  mf::test::FakeClock clock;
  auto resolver = make_unbound_resolver(io.get_executor(), {{config::HostPort{"127.0.0.1", port, true}}}, clock, 30s);
  std::optional<MxAnswer> mx_answer;
  std::optional<AddressAnswer> addr_answer;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { mx_answer = co_await resolver->mx("example.mftest"); },
                 asio::detached);
  asio::co_spawn(io, [&]() -> asio::awaitable<void> { addr_answer = co_await resolver->addresses("example.mftest"); },
                 asio::detached);
  asio::steady_timer kill(io, 100ms);
  kill.async_wait([&](boost::system::error_code) { resolver.reset(); });
  const auto start = std::chrono::steady_clock::now();
  io.run();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ASSERT_TRUE(mx_answer);
  EXPECT_EQ(mx_answer->status, Status::temp_fail);
  EXPECT_EQ(mx_answer->error, "cancelled");
  ASSERT_TRUE(addr_answer);
  EXPECT_EQ(addr_answer->status, Status::temp_fail);
  EXPECT_EQ(addr_answer->error, "cancelled");
  ::close(fd);
}

TEST(UnboundResolverTest, BadServerAddressAnswersTempFail) {
  asio::io_context io;
  mf::test::FakeClock clock;
  auto resolver = make_unbound_resolver(io.get_executor(), {{config::HostPort{"not an ip", 53, true}}}, clock, 300ms);
  MxAnswer m = run_awaitable(io, resolver->mx("example.mftest"));
  EXPECT_EQ(m.status, Status::temp_fail);
  EXPECT_NE(m.error.find("not an ip"), std::string::npos) << m.error;
}

}  // namespace
}  // namespace mf::dns
