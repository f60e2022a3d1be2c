# scripts and build area: make run (scripts/run.sh) comes up and stops
# cleanly on Ctrl-C / SIGINT with exit status 0.
ls_add_pytest(make_run tests/scripts/test_make_run.py
  LABELS integration TIMEOUT 300)
# cmake --install lays out what deploy/docker/Dockerfile's image needs.
ls_add_pytest(install_tree tests/scripts/test_install.py
  LABELS integration TIMEOUT 120)
# docs/ARCHITECTURE.md names files and functions that exist; no source line
# points at documents outside the repository.
ls_add_pytest(architecture_doc tests/scripts/test_architecture_doc.py
  LABELS unit TIMEOUT 60)
# Every tracked .c/.h file matches .clang-format (clang-format 14, as
# scripts/bootstrap.sh installs it); `make format` fixes a failure.
add_test(NAME format_check COMMAND ${CMAKE_SOURCE_DIR}/scripts/format-check.sh)
set_tests_properties(format_check PROPERTIES TIMEOUT 120 LABELS "unit")
# make build-matrix's Release configuration (-O3 with -Werror: the
# warnings gcc gives only with optimisation) in its own directory under
# this build; about 35 s of CPU without ccache (README.md).
add_test(NAME build_release_werror
  COMMAND env LS_MATRIX_DIR=${CMAKE_BINARY_DIR}/matrix
          ${CMAKE_SOURCE_DIR}/scripts/build-matrix.sh 2 release)
set_tests_properties(build_release_werror PROPERTIES TIMEOUT 900
  LABELS "slow")
