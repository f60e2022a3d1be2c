# The worker's output producer (wrk_out) against librdkafka's in-process
# mock cluster: delivery reports that come after a wait gave up.
if(CMOCKA_FOUND)
  add_executable(test_wrk_out ${CMAKE_SOURCE_DIR}/tests/unit/test_wrk_out.c)
  target_link_libraries(test_wrk_out PRIVATE worker_core PkgConfig::CMOCKA)
  ls_add_ctest(unit_wrk_out test_wrk_out LABELS unit)
endif()
