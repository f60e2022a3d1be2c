# `cmake --install`: what a production host or the container image needs.
#   <prefix>/bin/                      the daemons and the leadsync CLI
#   <prefix>/share/leadsync/schemas/   JSON Schemas (LEADSYNC_SCHEMA_DIR)
#   <prefix>/share/leadsync/console/   the console's web UI (LEADSYNC_CONSOLE_WWW)
#   <prefix>/share/leadsync/config/    the dev config, as an example
# The dev broker, the emulators and the bench tools are for development and
# are not installed. deploy/docker/Dockerfile builds the ls_installed target,
# installs with --prefix /usr and points LEADSYNC_SCHEMA_DIR and
# LEADSYNC_CONSOLE_WWW at the two directories (the built-in defaults are the
# source tree's, for make run and the tests).

set(LS_INSTALLED_PROGRAMS leadsync-ingress leadsync-worker leadsync-fanout
    leadsync-assurance leadsync-console leadsync)
# A separate filter binary, when the build has one.
if(TARGET leadsync-filter)
  list(APPEND LS_INSTALLED_PROGRAMS leadsync-filter)
endif()

install(TARGETS ${LS_INSTALLED_PROGRAMS} RUNTIME DESTINATION bin)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/schemas/
        DESTINATION share/leadsync/schemas
        FILES_MATCHING PATTERN "*.json")
install(DIRECTORY ${CMAKE_SOURCE_DIR}/console/www/
        DESTINATION share/leadsync/console)
install(FILES ${CMAKE_SOURCE_DIR}/config/dev.json
        DESTINATION share/leadsync/config)

# `cmake --build B --target ls_installed` builds exactly what the install
# rules above need (no tests, no dev tools).
add_custom_target(ls_installed)
add_dependencies(ls_installed ${LS_INSTALLED_PROGRAMS})
