#include "smtp/received.hpp"

#include "core/domain.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace mf::smtp {

std::string rfc5322_date(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  static constexpr std::array<const char*, 7> kDays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr std::array<const char*, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const weekday wd{day};
  const hh_mm_ss hms{floor<seconds>(t - day)};
  std::array<char, 64> buf{};
  std::snprintf(buf.data(), buf.size(), "%s, %02u %s %04d %02d:%02d:%02d +0000", kDays[wd.c_encoding()],
                static_cast<unsigned>(ymd.day()), kMonths[static_cast<unsigned>(ymd.month()) - 1],
                static_cast<int>(ymd.year()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()));
  return buf.data();
}

std::string sanitize_helo(std::string_view helo) {
  auto bad = [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c <= 0x20 || c >= 0x7F || c == '(' || c == ')' || c == ';' || c == '\\' || c == '"';
  };
  if (helo.empty() || helo.size() > 255 || std::any_of(helo.begin(), helo.end(), bad)) return "unknown";
  return std::string(helo);
}

std::string_view received_protocol(bool esmtp, bool tls, bool authenticated, bool smtputf8) {
  if (!esmtp) return "SMTP";
  if (smtputf8) {
    if (tls) return authenticated ? "UTF8SMTPSA" : "UTF8SMTPS";
    return authenticated ? "UTF8SMTPA" : "UTF8SMTP";
  }
  if (tls) return authenticated ? "ESMTPSA" : "ESMTPS";
  return authenticated ? "ESMTPA" : "ESMTP";
}

std::string received_header(const ConnectionFacts& conn, const Envelope& env, const ReceivedFields& f) {
  std::string h = "Received: from " + sanitize_helo(conn.helo) + " ([" + conn.client_ip + "])\r\n";
  h += "\tby " + std::string(f.hostname) + " (mailflow) with " + std::string(f.proto) + " id " +
       std::string(f.id);
  if (conn.tls) h += "\r\n\t(version=" + conn.tls_version + " cipher=" + conn.tls_cipher + ")";
  if (env.recipients.size() == 1) h += "\r\n\tfor <" + env.recipients.front().address.str() + ">";
  h += "; " + rfc5322_date(f.now) + "\r\n";
  return h;
}

std::size_t count_received_headers(std::string_view content) {
  constexpr std::string_view kName = "Received:";
  std::size_t count = 0;
  std::size_t pos = 0;
  while (pos < content.size()) {
    std::size_t eol = content.find("\r\n", pos);
    std::string_view line = content.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    if (line.empty()) break;  // end of the header section
    if (line.size() >= kName.size() && iequals(line.substr(0, kName.size()), kName)) ++count;
    if (eol == std::string_view::npos) break;
    pos = eol + 2;
  }
  return count;
}

}  // namespace mf::smtp
