# The work-conserving portal quota (lib/hs_ratelimit.c, docs/worker.md
# "Rate limiting"): borrowing, priority, simulated portals.
if(CMOCKA_FOUND)
  add_executable(test_hs_quota ${CMAKE_SOURCE_DIR}/tests/unit/test_hs_quota.c)
  target_link_libraries(test_hs_quota PRIVATE ls_hubspot PkgConfig::CMOCKA)
  ls_add_ctest(unit_hs_quota test_hs_quota LABELS unit)
endif()
