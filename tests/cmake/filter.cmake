# Category filter: hold and release.
if(CMOCKA_FOUND)
  add_executable(test_filter ${CMAKE_SOURCE_DIR}/tests/unit/test_filter.c)
  target_link_libraries(test_filter PRIVATE filter_state ls_model PkgConfig::CMOCKA)
  ls_add_ctest(unit_filter test_filter LABELS unit)
endif()
ls_add_pytest(filter_hold_release tests/filter/test_filter.py LABELS integration TIMEOUT 300)
ls_add_pytest(filter_model tests/filter/test_filter_model.py LABELS integration TIMEOUT 600)
ls_add_pytest(filter_restart tests/filter/test_filter_restart.py
  LABELS integration slow TIMEOUT 300)
