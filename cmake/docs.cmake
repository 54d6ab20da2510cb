# The API reference: Doxygen over libhvcore/include/hvcore/*.h.
#   cmake --build build --target docs      -> build/docs/api/html/index.html
# Warnings are errors (undocumented public symbols included; Doxyfile:
# WARN_AS_ERROR=FAIL_ON_WARNINGS), and docs/api/check_contract.py fails the
# target for a public function that does not say its calling context, or a
# status-returning one that names no status. docs/api/doxy_filter.py shows
# the headers' plain C comments to Doxygen (docs/api/README.md).
find_program(HVCORE_DOXYGEN doxygen)
# Debian's python3 first: Doxygen starts the filter once per header and pass,
# and a wrapper in front of python3 (pyenv shims) made that minutes long.
find_program(Python3_EXECUTABLE python3 PATHS /usr/bin NO_DEFAULT_PATH)
find_package(Python3 COMPONENTS Interpreter)
set(HVCORE_DOCS_OUT ${CMAKE_CURRENT_BINARY_DIR}/docs/api)
if(HVCORE_DOXYGEN AND Python3_Interpreter_FOUND)
  set(HVCORE_DOCS_WARN_AS_ERROR FAIL_ON_WARNINGS)
  configure_file(${PROJECT_SOURCE_DIR}/docs/api/Doxyfile.in ${HVCORE_DOCS_OUT}/Doxyfile @ONLY)
  file(GLOB _hvcore_public_headers ${PROJECT_SOURCE_DIR}/libhvcore/include/hvcore/*.h)
  add_custom_command(OUTPUT ${HVCORE_DOCS_OUT}/html/index.html
    COMMAND ${CMAKE_COMMAND} -E rm -rf ${HVCORE_DOCS_OUT}/html ${HVCORE_DOCS_OUT}/xml
    COMMAND ${HVCORE_DOXYGEN} ${HVCORE_DOCS_OUT}/Doxyfile
    COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/docs/api/check_contract.py ${HVCORE_DOCS_OUT}/xml
    DEPENDS ${_hvcore_public_headers} ${PROJECT_SOURCE_DIR}/docs/api/Doxyfile.in
            ${PROJECT_SOURCE_DIR}/docs/api/doxy_filter.py ${PROJECT_SOURCE_DIR}/docs/api/check_contract.py
            ${PROJECT_SOURCE_DIR}/docs/api/mainpage.md
    WORKING_DIRECTORY ${HVCORE_DOCS_OUT}
    COMMENT "API reference (Doxygen, warnings are errors): ${HVCORE_DOCS_OUT}/html/index.html" VERBATIM)
  add_custom_target(docs DEPENDS ${HVCORE_DOCS_OUT}/html/index.html)
else()
  add_custom_target(docs
    COMMAND ${CMAKE_COMMAND} -E echo "docs: needs doxygen and python3: apt-get install doxygen python3"
    COMMAND ${CMAKE_COMMAND} -E false VERBATIM)
endif()
