# console: leadsync-console (console/, docs/console.md): the JSON API and
# the web UI in a real browser, against the real stack.
ls_add_pytest(console_api tests/console/test_console_api.py
  LABELS integration TIMEOUT 240)
ls_add_pytest(console_browser tests/console/test_console_browser.py
  LABELS "integration;slow" TIMEOUT 300)
# Exit 77: no chromium/chromedriver/selenium on this machine.
set_tests_properties(console_browser PROPERTIES SKIP_RETURN_CODE 77)
# HubSpot token_file re-read on change (worker and the console's probe).
ls_add_pytest(console_token_file tests/console/test_token_file.py
  LABELS integration TIMEOUT 180)
if(CMOCKA_FOUND)
  add_executable(test_console ${CMAKE_SOURCE_DIR}/tests/unit/test_console.c)
  target_link_libraries(test_console PRIVATE console_core PkgConfig::CMOCKA)
  ls_add_ctest(unit_console test_console LABELS unit)
endif()
# `leadsync sources` against the dev broker and the ingress.
ls_add_pytest(console_sources_cli tests/console/test_sources_cli.py
  LABELS integration TIMEOUT 180)
