# All dependencies come from Debian 12 packages (see Makefile: DEB_PACKAGES).
find_package(Threads REQUIRED)
find_package(Boost 1.81 REQUIRED)
find_package(OpenSSL 3 REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 REQUIRED)
find_package(RocksDB REQUIRED)
find_package(SQLite3 REQUIRED)  # message trace store (CMake's FindSQLite3: SQLite::SQLite3)
pkg_check_modules(IDN2 REQUIRED IMPORTED_TARGET libidn2)
pkg_check_modules(LIBCRYPT REQUIRED IMPORTED_TARGET libcrypt)
# jemalloc replaces glibc malloc in the server binary: the relay profile (bench/README.md) spends
# 8-10 % of mailflow's CPU in glibc's malloc/free/consolidate on per-message strings; jemalloc's
# thread caches cut the server's CPU per relayed message by about 9 %. Not with the sanitizers (they
# bring their own allocator).
if(MAILFLOW_JEMALLOC AND NOT MAILFLOW_SANITIZE AND NOT MAILFLOW_FUZZ)
  pkg_check_modules(JEMALLOC REQUIRED IMPORTED_TARGET jemalloc)
endif()
if(MAILFLOW_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
