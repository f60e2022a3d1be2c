# lib/kafka helpers (kq_client): producer/consumer construction, the
# produce call that waits out a full queue, delivery accounting. No broker.
if(CMOCKA_FOUND)
  add_executable(test_kq_client ${CMAKE_SOURCE_DIR}/tests/unit/test_kq_client.c)
  target_link_libraries(test_kq_client PRIVATE ls_kafka PkgConfig::CMOCKA)
  ls_add_ctest(unit_kq_client test_kq_client LABELS unit)
endif()
