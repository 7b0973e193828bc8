# mailflow_module(<name> SOURCES ... [DEPS ...])
#   Defines the static library mailflow_<name> for src/<name>/. Public headers are
#   included as "<name>/<header>.hpp" (the include root is src/).
function(mailflow_module name)
  cmake_parse_arguments(M "" "" "SOURCES;DEPS" ${ARGN})
  add_library(mailflow_${name} STATIC ${M_SOURCES})
  target_include_directories(mailflow_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(mailflow_${name} PUBLIC ${M_DEPS})
endfunction()

# mailflow_test(<name> SOURCES ... [DEPS ...] [LABELS ...])
#   A GoogleTest executable registered with CTest (one test per TEST()).
function(mailflow_test name)
  cmake_parse_arguments(T "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} PROPERTIES LABELS "unit;${T_LABELS}" DISCOVERY_TIMEOUT 60)
endfunction()
