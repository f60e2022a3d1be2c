# Core library unit tests and the dev broker.
if(CMOCKA_FOUND)
  add_executable(test_core ${CMAKE_SOURCE_DIR}/tests/unit/test_core.c)
  target_link_libraries(test_core PRIVATE ls_model PkgConfig::CMOCKA)
  ls_add_ctest(unit_core test_core LABELS unit)
endif()
ls_add_pytest(devbroker tests/dev/test_devbroker.py LABELS integration TIMEOUT 120)
