// spool/crc32c.hpp — CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of the
// message bytes in every "d/" record (see spool.hpp). On x86-64 CPUs with SSE 4.2 the CRC32
// instruction does the work (about 8 bytes per cycle: the checksum is on every received byte);
// elsewhere a table-driven slice-by-8. Both give the same values; no I/O, thread-safe (the tables are
// built at compile time, the CPU check once).
#pragma once

#include <cstdint>
#include <string_view>

namespace mf::spool {

// Extends `crc` (the value returned for the bytes before `data`; 0 to start) over `data`.
// crc32c("123456789") == 0xE3069283 (the RFC 3720 check value).
std::uint32_t crc32c_extend(std::uint32_t crc, std::string_view data);
inline std::uint32_t crc32c(std::string_view data) { return crc32c_extend(0, data); }
// The portable table-driven implementation (what crc32c_extend uses without SSE 4.2; tests compare).
std::uint32_t crc32c_extend_portable(std::uint32_t crc, std::string_view data);

}  // namespace mf::spool
