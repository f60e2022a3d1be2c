# ls_json (lib/core): the worker's faster jansson reader and writer,
# compared with jansson itself on cases, fixtures and their mutations.
if(CMOCKA_FOUND)
  add_executable(test_ls_json ${CMAKE_SOURCE_DIR}/tests/unit/test_ls_json.c)
  target_link_libraries(test_ls_json PRIVATE ls_core PkgConfig::CMOCKA)
  ls_add_ctest(unit_ls_json test_ls_json LABELS unit)
endif()
