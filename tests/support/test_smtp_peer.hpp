// tests/support/test_smtp_peer.hpp — a small scripted SMTP server for C++ tests of the SMTP client
// side (delivery/outbound.cpp). It is the "in-process peer" of STYLE habit 5: a real TCP listener on a
// loopback address, so the code under test runs its real sockets, but every reply is chosen by the
// test.
//
// What it does: listens on `address`:`port` (port 0 = any free port; see port()), greets, answers
// EHLO with the configured keywords (HELO too), MAIL / RCPT / DATA / RSET / QUIT / NOOP with the
// script's replies (RCPT per recipient when `rcpt_replies` names it), reads the dot-stuffed data
// block and answers it; anything else gets 502. It records every command line, every transaction
// (MAIL FROM, accepted RCPTs, the unstuffed data) and how many connections it accepted.
// Modes: normal; refuse (the port is bound but not listening: connects are refused, and the
// address:port stays reserved); drop_at_end_of_data (the data is read and recorded, then the
// connection is closed without a reply); silent (accepts and never says anything: a tarpit). The script may be changed between connections (script()).
//
// Threads: everything runs on the executor given, which must be the test's single-threaded
// io_context; accessors must be called while that io_context is not running (between run_for()).
// Lifetime: stop() (or the destructor) closes the listener and every open connection; coroutines
// still suspended keep only shared state alive, so the io_context may be run or destroyed later.
// Errors: start() returns the bind/listen error; no exceptions escape the coroutines.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/system/error_code.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace mf::test {

struct PeerTransaction {
  std::string mail_from;            // the reverse-path inside <> ("" for <>)
  std::vector<std::string> rcpts;   // RCPT TO paths that were accepted (2xx), in order
  std::string data;                 // the message, dot-unstuffed, ending in CRLF (without the ".")
  bool accepted = false;            // the end-of-data reply was 2xx (false in drop_at_end_of_data)
};

class TestSmtpPeer {
 public:
  // silent: accepts, never greets; drip: sends its greeting one octet every 200 ms (a slow-drip peer)
  enum class Mode { normal, refuse, drop_at_end_of_data, silent, drip };

  // Replies are written as given; a missing final CRLF is added. A multi-line reply is one string
  // with CRLF between its lines ("250-a\r\n250 b").
  struct Script {
    Mode mode = Mode::normal;
    std::string hostname = "peer.test";
    std::string greeting;                      // "" → "220 <hostname> ESMTP test peer"
    std::vector<std::string> ehlo_keywords = {"PIPELINING", "8BITMIME", "ENHANCEDSTATUSCODES"};
    std::string ehlo_reply;                    // "" → 250 <hostname> + keywords
    std::string helo_reply = "250 peer.test";
    std::string mail_reply = "250 2.1.0 Ok";
    std::string rcpt_reply = "250 2.1.5 Ok";
    std::map<std::string, std::string> rcpt_replies;  // lower-case address → reply for that RCPT
    std::string data_reply = "354 End data with <CR><LF>.<CR><LF>";
    std::string end_of_data_reply = "250 2.0.0 Ok: queued";
    std::string rset_reply = "250 2.0.0 Ok";
    std::string quit_reply = "221 2.0.0 Bye";
    // Hold the end-of-data reply (the data is recorded first) until release(): lets a test act
    // while the client is inside a transaction.
    bool hold_end_of_data = false;
  };

  TestSmtpPeer(boost::asio::any_io_executor executor, std::string address, std::uint16_t port, Script script);
  ~TestSmtpPeer();
  TestSmtpPeer(const TestSmtpPeer&) = delete;
  TestSmtpPeer& operator=(const TestSmtpPeer&) = delete;

  // Binds (and listens, unless Mode::refuse) and starts accepting. Call once.
  boost::system::error_code start();
  void stop();  // closes the listener and every open connection
  void drop_connections();  // closes every open connection without a word; keeps listening

  const std::string& address() const;
  std::uint16_t port() const;  // the bound port (valid after a successful start())
  Script& script();            // read at every command: changes apply from the next command on
  void release();              // answers every held end of data and clears hold_end_of_data

  std::size_t connections() const;       // connections accepted so far
  std::size_t open_connections() const;  // connections not yet closed by either side
  std::size_t held() const;              // end-of-data replies being held now
  std::vector<PeerTransaction> transactions() const;  // transactions that reached the end of data
  std::vector<std::string> commands() const;          // every command line received, in order, all connections
  std::size_t count_commands(const std::string& verb) const;  // lines starting with `verb` (case-insensitive)

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// Peers on distinct loopback addresses 127.a.b.1, 127.a.b.2, ... that share ONE port (the port the
// engine uses for names without a port: service.remote_smtp_port). a.b are derived from `seed` and
// the process id so that tests running in parallel processes do not meet. The first peer binds port
// 0; if a later address cannot get the same port, the whole group is retried with a new port.
// scripts.size() peers are made; all are started (check ok()).
class PeerGroup {
 public:
  PeerGroup(boost::asio::any_io_executor executor, const std::string& seed, std::vector<TestSmtpPeer::Script> scripts);
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::uint16_t port() const { return port_; }
  TestSmtpPeer& operator[](std::size_t i) { return *peers_.at(i); }
  std::size_t size() const { return peers_.size(); }
  // A further address on the same /24 that no peer uses (e.g. for an own-listener entry).
  std::string spare_address(std::size_t n = 0) const;
  std::size_t open_connections() const;
  void stop();

 private:
  std::string prefix_;  // "127.a.b."
  std::vector<std::unique_ptr<TestSmtpPeer>> peers_;
  std::uint16_t port_ = 0;
  bool ok_ = false;
  std::string error_;
};

// "127.a.b." for `seed` in this process (a and b never 0, a never 0 or 255).
std::string loopback_prefix(const std::string& seed);

}  // namespace mf::test
