# Observability (docs/metrics.md, docs/operations.md): the metrics
# registry's process_*/build_info/buckets, --version on every binary, the
# metrics table checked against each daemon's /metrics, the alert rules
# (promtool) and the dashboard.
if(CMOCKA_FOUND)
  add_executable(test_metrics ${CMAKE_SOURCE_DIR}/tests/unit/test_metrics.c)
  target_link_libraries(test_metrics PRIVATE ls_core PkgConfig::CMOCKA)
  ls_add_ctest(unit_metrics test_metrics LABELS unit)
  add_executable(test_log ${CMAKE_SOURCE_DIR}/tests/unit/test_log.c)
  target_link_libraries(test_log PRIVATE ls_core PkgConfig::CMOCKA)
  ls_add_ctest(unit_log test_log LABELS unit)
endif()
ls_add_pytest(obs_version tests/obs/test_version.py LABELS integration TIMEOUT 60)
ls_add_pytest(obs_metrics_doc tests/obs/metrics_doc.py LABELS integration TIMEOUT 180)
ls_add_pytest(obs_metrics_live tests/obs/test_metrics_live.py LABELS integration TIMEOUT 150)
ls_add_pytest(obs_monitoring tests/obs/test_monitoring.py LABELS integration TIMEOUT 120)
ls_add_pytest(obs_logs tests/obs/test_logs.py LABELS integration TIMEOUT 150)
