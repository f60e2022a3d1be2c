# Fan-out role (leadsync-fanout): endpoints, signatures, SSRF guard, DLQ.
if(CMOCKA_FOUND)
  add_executable(test_fanout ${CMAKE_SOURCE_DIR}/tests/unit/test_fanout.c
    ${CMAKE_SOURCE_DIR}/fanout/fo_format.c ${CMAKE_SOURCE_DIR}/fanout/fo_seen.c)
  target_include_directories(test_fanout PRIVATE ${CMAKE_SOURCE_DIR}/fanout)
  target_link_libraries(test_fanout PRIVATE ls_kafka ls_model PkgConfig::CMOCKA)
  ls_add_ctest(unit_fanout test_fanout LABELS unit)
endif()
ls_add_pytest(fanout_delivery tests/fanout/test_fanout.py LABELS integration TIMEOUT 300)
ls_add_pytest(fanout_kill tests/fanout/test_fanout_kill.py LABELS integration TIMEOUT 240)
ls_add_pytest(fanout_pause tests/fanout/test_fanout_pause.py LABELS integration TIMEOUT 240)
ls_add_pytest(fanout_pause_start tests/fanout/test_fanout_pause_start.py LABELS integration TIMEOUT 400)
