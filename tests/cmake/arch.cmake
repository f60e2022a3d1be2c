# The include graph: no cycle between modules anywhere in the tree, lib/
# layers include and link only downward (tests/arch/check_layers.py). The
# script first plants each kind of fault in a small tree and checks it is
# reported, then checks the source tree.
add_test(NAME lib_layers
  COMMAND ${LS_PYTHON} ${CMAKE_SOURCE_DIR}/tests/arch/check_layers.py
          --self-test ${CMAKE_SOURCE_DIR})
set_tests_properties(lib_layers PROPERTIES ENVIRONMENT "${LS_TEST_ENV}"
  TIMEOUT 60 LABELS "unit")

# `ldd` of every built binary: the ones that use no HubSpot, HTTP or Kafka
# do not link libcurl, libmicrohttpd or librdkafka (tests/arch/check_links.py).
ls_add_pytest(lib_links tests/arch/check_links.py LABELS unit TIMEOUT 60)
