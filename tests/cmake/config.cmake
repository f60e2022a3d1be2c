# config: the config rule set (lib/model/ls_config*.c,
# docs/configuration.md) and `leadsync config check`, which prints the
# loader's diagnostics.
if(CMOCKA_FOUND)
  add_executable(test_config_diag ${CMAKE_SOURCE_DIR}/tests/unit/test_config_diag.c)
  target_link_libraries(test_config_diag PRIVATE ls_model ls_hubspot PkgConfig::CMOCKA)
  ls_add_ctest(unit_config test_config_diag LABELS unit)
endif()
# One corpus (tests/fixtures/config), both paths: config check and the
# daemons reject the same configs and start with the accepted ones.
ls_add_pytest(config_corpus tests/cli/test_config_corpus.py
  LABELS integration TIMEOUT 180)
