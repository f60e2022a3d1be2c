# Captures the git commit at configure time into ls_version_gen.h. `make
# build` re-runs the configure step, so the commit follows the checkout;
# outside a git checkout (a release tarball) the commit is "unknown".
set(LS_GIT_COMMIT "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND ${GIT_EXECUTABLE} rev-parse --short=12 HEAD
    WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
    OUTPUT_VARIABLE _ls_commit OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _ls_rc ERROR_QUIET)
  if(_ls_rc EQUAL 0 AND _ls_commit MATCHES "^[0-9a-f]+$")
    set(LS_GIT_COMMIT ${_ls_commit})
    execute_process(COMMAND ${GIT_EXECUTABLE} diff --quiet HEAD --
      WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
      RESULT_VARIABLE _ls_dirty ERROR_QUIET)
    if(_ls_dirty EQUAL 1)
      set(LS_GIT_COMMIT "${LS_GIT_COMMIT}-dirty")
    endif()
  endif()
endif()
if(DEFINED ENV{LEADSYNC_COMMIT} AND NOT "$ENV{LEADSYNC_COMMIT}" STREQUAL "")
  # Container builds copy the source without .git and pass the commit in.
  set(LS_GIT_COMMIT "$ENV{LEADSYNC_COMMIT}")
endif()
configure_file(${CMAKE_SOURCE_DIR}/cmake/ls_version_gen.h.in
  ${CMAKE_BINARY_DIR}/generated/ls_version_gen.h @ONLY)
