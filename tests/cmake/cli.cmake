# cli: tests of the operator CLI `leadsync` (cli/, docs/cli.md).
if(CMOCKA_FOUND)
  add_executable(test_cli_unit ${CMAKE_CURRENT_LIST_DIR}/../cli/test_cli_unit.c)
  target_link_libraries(test_cli_unit PRIVATE leadsync_cli PkgConfig::CMOCKA)
  ls_add_ctest(cli_unit test_cli_unit LABELS unit)
endif()

# No Kafka: framework, config check, webhooks check (+ Smartlead API stub).
ls_add_pytest(cli_checks tests/cli/test_cli_checks.py
  LABELS integration TIMEOUT 120)
# Dev broker only: history, dlq list/replay, replay on records made here.
ls_add_pytest(cli_kafka tests/cli/test_cli_kafka.py
  LABELS integration TIMEOUT 180)
# Whole stack: test-sync, hubspot setup, DLQ drain after a revoked token.
ls_add_pytest(cli_e2e tests/cli/test_cli_e2e.py
  LABELS e2e TIMEOUT 240)
# Exit 77: a binary of another area is not built yet.
set_tests_properties(cli_e2e PROPERTIES SKIP_RETURN_CODE 77)
# URL credentials never printed (issue 12): webhooks check on URLs with
# userinfo, queries and tokens.
ls_add_pytest(cli_redact tests/cli/test_cli_redact.py
  LABELS integration TIMEOUT 60)
