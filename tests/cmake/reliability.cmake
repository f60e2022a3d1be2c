# Issue 12, worker side: nothing acknowledged is ever lost (docs/worker.md
# "Exactly once and the offset invariant").
# One body posted 2, 5 and 50 times -> one engagement; the count is
# observed for LS_ONCE_OBSERVE_S (60 s) afterwards.
ls_add_pytest(worker_once tests/worker/test_worker_once.py
  LABELS integration slow TIMEOUT 240)
if(CMOCKA_FOUND)
  # Clamped HubSpot numbers (Retry-After, rate-limit headers).
  add_executable(test_reliability
    ${CMAKE_SOURCE_DIR}/tests/unit/test_reliability.c)
  target_link_libraries(test_reliability PRIVATE ls_hubspot
    PkgConfig::CMOCKA)
  ls_add_ctest(unit_reliability test_reliability LABELS unit)
endif()
# The fault suite: injected allocation / output / seek / rebuild failures,
# oversized forwards and DLQ copies, SIGTERM during start-up; each ends
# with `leadsync audit` (0 acknowledged events without an outcome).
ls_add_pytest(worker_lossless tests/worker/test_worker_lossless.py
  LABELS integration TIMEOUT 240)
# Poison in the filter role: a record whose re-publication is always
# refused goes to the DLQ (reason poison); its partition moves on.
ls_add_pytest(filter_poison tests/filter/test_filter_poison.py
  LABELS integration TIMEOUT 120)
# Daily-limit deferral: events left in Kafka while the portal's budget is
# spent sync once after its midnight reset (emulator time zone), none lost.
ls_add_pytest(worker_daily_defer tests/worker/test_worker_daily_defer.py
  LABELS integration TIMEOUT 120)
