# lib/ops (ls_ops): listen addresses and the /metrics /healthz /readyz
# server, on loopback.
if(CMOCKA_FOUND)
  add_executable(test_ops ${CMAKE_SOURCE_DIR}/tests/unit/test_ops.c)
  target_link_libraries(test_ops PRIVATE ls_ops PkgConfig::CMOCKA)
  ls_add_ctest(unit_ops test_ops LABELS unit)
endif()
