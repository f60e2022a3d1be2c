# Ingress area: event model, schema validator, route/rate-limit units, the
# HTTP -> Kafka integration and fault tests, and a bounded libFuzzer run.
# Total budget about 4 minutes on 2 cores (the fuzz run takes 60 s of it).
if(CMOCKA_FOUND)
  add_executable(test_event ${CMAKE_SOURCE_DIR}/tests/unit/test_event.c)
  target_link_libraries(test_event PRIVATE ls_model PkgConfig::CMOCKA)
  ls_add_ctest(unit_event test_event LABELS unit)

  add_executable(test_schema ${CMAKE_SOURCE_DIR}/tests/unit/test_schema.c)
  target_link_libraries(test_schema PRIVATE ls_model PkgConfig::CMOCKA)
  ls_add_ctest(unit_schema test_schema LABELS unit)

  add_executable(test_ing_route ${CMAKE_SOURCE_DIR}/tests/unit/test_ing_route.c)
  target_link_libraries(test_ing_route PRIVATE ingress_core PkgConfig::CMOCKA)
  ls_add_ctest(unit_ing_route test_ing_route LABELS unit)

  # The single-pass scanner against jansson, and the route on it against
  # the DOM route it replaced (tests/ingress/route_ref.c).
  add_executable(test_ing_json ${CMAKE_SOURCE_DIR}/tests/unit/test_ing_json.c
    ${CMAKE_SOURCE_DIR}/tests/ingress/route_ref.c)
  target_include_directories(test_ing_json PRIVATE
    ${CMAKE_SOURCE_DIR}/tests/ingress)
  target_link_libraries(test_ing_json PRIVATE ingress_core PkgConfig::CMOCKA)
  ls_add_ctest(unit_ing_json test_ing_json LABELS unit)

  # Allocation failures through the linker: every calloc of the code under
  # test can be made to fail in turn.
  add_executable(test_ing_hardening
    ${CMAKE_SOURCE_DIR}/tests/unit/test_ing_hardening.c)
  target_link_libraries(test_ing_hardening PRIVATE ingress_core
    PkgConfig::CMOCKA -Wl,--wrap=calloc)
  ls_add_ctest(unit_ing_hardening test_ing_hardening LABELS unit)
endif()

# The C validator as a filter, for the differential test against
# python3-jsonschema (tests/ingress/test_schemas.py).
add_executable(ls-schema-check ${CMAKE_SOURCE_DIR}/tests/ingress/schema_check.c)
# It links the ingress too: every instance is also validated through the
# ingress's single-pass projection (ing_json.c).
target_link_libraries(ls-schema-check PRIVATE ingress_core ls_model)

ls_add_pytest(ingress_schemas tests/ingress/test_schemas.py
  LABELS integration TIMEOUT 60)
ls_add_pytest(ingress_api tests/ingress/test_api.py
  LABELS integration TIMEOUT 120)
ls_add_pytest(ingress_faults tests/ingress/test_faults.py
  LABELS integration TIMEOUT 120)
ls_add_pytest(ingress_kill tests/ingress/test_kill.py
  LABELS integration TIMEOUT 150)
ls_add_pytest(ingress_slow_clients tests/ingress/test_slow_clients.py
  LABELS integration TIMEOUT 120)

# libFuzzer over the parse-validate-route path, built with clang in its own
# build directory; `make fuzz` runs the same script for longer.
add_test(NAME ingress_fuzz
  COMMAND ${CMAKE_SOURCE_DIR}/tests/fuzz/run.sh 60)
set_tests_properties(ingress_fuzz PROPERTIES
  ENVIRONMENT "${LS_TEST_ENV};LS_FUZZ_BUILD=${CMAKE_BINARY_DIR}/fuzz"
  TIMEOUT 300 LABELS "fuzz")

# Issue 12 (ingress side): sizes end to end, hostile framing and token
# probing, body-secret masking and allocation failures.
ls_add_pytest(ingress_sizes tests/ingress/test_sizes.py
  LABELS integration TIMEOUT 120)
ls_add_pytest(ingress_framing tests/ingress/test_framing.py
  LABELS integration TIMEOUT 120)
