# Real-world variation (issue 15): body fitting, address parsing, junk
# senders, the second Smartlead payload shape, HubSpot's validation and
# the emulator behaviours that make the client's assumptions testable.
if(CMOCKA_FOUND)
  add_executable(test_variation ${CMAKE_SOURCE_DIR}/tests/unit/test_variation.c)
  target_link_libraries(test_variation PRIVATE ls_hubspot PkgConfig::CMOCKA)
  ls_add_ctest(unit_variation test_variation LABELS unit)
endif()
ls_add_pytest(hubspot_emulator_variation tests/hubspot/test_emulator_variation.py
  LABELS integration TIMEOUT 120)
# Dev broker + HubSpot emulator + leadsync-worker under real-world variation.
ls_add_pytest(worker_variation tests/worker/test_worker_variation.py
  LABELS integration TIMEOUT 240)
# `leadsync quarantine list|replay` against the dev broker.
ls_add_pytest(cli_quarantine tests/cli/test_cli_quarantine.py
  LABELS integration TIMEOUT 120)
# webhooks check: Slack and normal webhooks are separate receivers.
ls_add_pytest(cli_webhooks_slack tests/cli/test_cli_webhooks_slack.py
  LABELS integration TIMEOUT 60)
# The drift corpus (tests/fixtures/drift) through ingress, worker, emulator.
ls_add_pytest(e2e_drift_corpus tests/e2e/test_drift_corpus.py
  LABELS e2e TIMEOUT 240)
