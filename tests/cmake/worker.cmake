# worker area: leadsync-worker and the HubSpot client (docs/worker.md,
# docs/hubspot-client.md, docs/mapping.md).
if(CMOCKA_FOUND)
  add_executable(test_hs_client ${CMAKE_SOURCE_DIR}/tests/unit/test_hs_client.c)
  target_link_libraries(test_hs_client PRIVATE ls_hubspot PkgConfig::CMOCKA)
  ls_add_ctest(unit_hs_client test_hs_client LABELS unit)
  add_executable(test_map ${CMAKE_SOURCE_DIR}/tests/unit/test_map.c)
  target_link_libraries(test_map PRIVATE ls_hubspot PkgConfig::CMOCKA)
  ls_add_ctest(unit_map test_map LABELS unit)
endif()
# Dev broker + HubSpot emulator + leadsync-worker.
ls_add_pytest(worker_sync tests/worker/test_worker_sync.py
  LABELS integration TIMEOUT 180)
ls_add_pytest(worker_faults tests/worker/test_worker_faults.py
  LABELS integration TIMEOUT 240)
ls_add_pytest(worker_crash tests/worker/test_worker_crash.py
  LABELS integration TIMEOUT 240)
# Four workers of one group share one portal; one leaves under load.
ls_add_pytest(worker_share tests/worker/test_worker_share.py
  LABELS integration TIMEOUT 420)
# The worker's flush against a fake HubSpot (worker_core): bisection, 207
# answers, first-touch carry, revoke during a flush, offsets of final
# events only, copies of one event in a flush.
if(CMOCKA_FOUND)
  add_executable(test_worker_core
    ${CMAKE_SOURCE_DIR}/tests/unit/test_worker_core.c)
  target_link_libraries(test_worker_core PRIVATE worker_core
    PkgConfig::CMOCKA)
  ls_add_ctest(unit_worker_core test_worker_core LABELS unit)
endif()
# Two workers of one group with partition.assignment.strategy
# cooperative-sticky: incremental assign/unassign under load.
ls_add_pytest(worker_cooperative tests/worker/test_worker_cooperative.py
  LABELS integration TIMEOUT 180)
# The partitioned de-duplication state: restore, groups, kills, rebalance
# during a restore, the dedup window (docs/worker.md "State").
ls_add_pytest(worker_state tests/worker/test_worker_state.py
  LABELS integration slow TIMEOUT 300)
# The de-duplication state tables and worker.dedup_window (wrk_ledger).
if(CMOCKA_FOUND)
  add_executable(test_wrk_ledger ${CMAKE_SOURCE_DIR}/tests/unit/test_wrk_ledger.c)
  target_link_libraries(test_wrk_ledger PRIVATE worker_core PkgConfig::CMOCKA)
  ls_add_ctest(unit_wrk_ledger test_wrk_ledger LABELS unit)
endif()
# Workers of one group joining and leaving under load, eager and
# cooperative: SIGKILL during a flush, a rebalance and a SIGTERM while a
# replica restores; no worker may die by itself (docs/worker.md).
ls_add_pytest(worker_churn tests/worker/test_worker_churn.py
  LABELS integration slow TIMEOUT 600)
# The next flush taken in while a flush waits (copies of events in
# flight, SIGKILL and a rebalance while overlapping; docs/worker.md).
ls_add_pytest(worker_overlap tests/worker/test_worker_overlap.py
  LABELS integration TIMEOUT 300)
