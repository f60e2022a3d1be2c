# Webhook assurance: the Smartlead emulator and the assurance role
# (docs/assurance.md, docs/smartlead-emulator.md).
ls_add_pytest(assurance_smartlead_emulator
  tests/assurance/test_smartlead_emulator.py LABELS integration TIMEOUT 120)
ls_add_pytest(assurance_e2e tests/assurance/test_assurance_e2e.py
  LABELS integration slow TIMEOUT 400)
ls_add_pytest(assurance_faults tests/assurance/test_assurance_faults.py
  LABELS integration slow TIMEOUT 400)
if(CMOCKA_FOUND)
  add_executable(test_assurance_evid
    ${CMAKE_SOURCE_DIR}/tests/unit/test_assurance_evid.c
    ${CMAKE_SOURCE_DIR}/assurance/as_backfill.c)
  target_include_directories(test_assurance_evid PRIVATE
    ${CMAKE_SOURCE_DIR}/assurance)
  target_link_libraries(test_assurance_evid PRIVATE ls_kafka
    PkgConfig::CMOCKA)
  ls_add_ctest(unit_assurance_evid test_assurance_evid LABELS unit)
endif()
