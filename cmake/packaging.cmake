# Install rules beyond the libraries, and the Debian packages (CPack).
#
#   cmake -S . -B build-pkg -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=Release
#   cmake --build build-pkg && (cd build-pkg && cpack -G DEB)
#
# Components, one package each:
#   dev   -> libhvcore-dev  headers, the static libraries (hvcore, hvcore::testing,
#                           hvcore::client), the CMake package, pkg-config files,
#                           hvcore(7), the guides
#   dkms  -> hvcore-dkms    platform/linux as `make prepare` assembles it, plus
#                           dkms.conf, in /usr/src/hvcore-VERSION; built by DKMS
#                           when the package is installed
#   hvctl -> hvctl          the client, hvctl(1), bash completion
set(HVCORE_DEB_MAINTAINER "libhvcore developers <hvcore-devel@lists.libhvcore.org>")
set(HVCORE_DEB_REVISION 1)

# Debian wants manual pages and changelogs compressed with gzip -9n.
find_program(HVCORE_GZIP gzip REQUIRED)
set(_pkgdir ${CMAKE_CURRENT_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${_pkgdir})
foreach(page hvctl.1 hvcore.7)
  add_custom_command(OUTPUT ${_pkgdir}/${page}.gz
    COMMAND ${HVCORE_GZIP} -9n -c ${PROJECT_SOURCE_DIR}/docs/man/${page} > ${_pkgdir}/${page}.gz
    DEPENDS ${PROJECT_SOURCE_DIR}/docs/man/${page} VERBATIM)
endforeach()
add_custom_target(hvcore_man ALL DEPENDS ${_pkgdir}/hvctl.1.gz ${_pkgdir}/hvcore.7.gz)

install(FILES ${_pkgdir}/hvcore.7.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man7 COMPONENT dev)
file(GLOB _guides ${PROJECT_SOURCE_DIR}/docs/*.md)
if(_guides)
  install(FILES ${_guides} DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/libhvcore-dev COMPONENT dev)
endif()

if(TARGET hvctl)
  install(TARGETS hvctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT hvctl)
  install(FILES ${_pkgdir}/hvctl.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT hvctl)
  install(FILES ${PROJECT_SOURCE_DIR}/examples/hvctl/hvctl.bash-completion
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions RENAME hvctl COMPONENT hvctl)
endif()

# HVCORE_STRIP_INSTALL (the package build sets it) or cmake --install --strip
# strips as dh_strip does:
# debug info and .comment/.note out of the static libraries (CMake strips only
# executables), .comment out of hvctl. Deterministic archives.
find_program(HVCORE_STRIP strip REQUIRED)
option(HVCORE_STRIP_INSTALL "Strip the installed static libraries and hvctl as dh_strip does (Debian packages)" OFF)
if(HVCORE_STRIP_INSTALL)
  set(_strip_cond "1")
else()
  set(_strip_cond "CMAKE_INSTALL_DO_STRIP")
endif()
install(CODE "
  if(${_strip_cond})
    foreach(_a libhvcore.a libhvcore_testing.a libhvcore_client.a)
      execute_process(COMMAND \"${HVCORE_STRIP}\" --strip-debug --remove-section=.comment --remove-section=.note
        --enable-deterministic-archives \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/\${_a}\")
    endforeach()
  endif()" COMPONENT dev)
if(TARGET hvctl)
  install(CODE "
    if(${_strip_cond})
      execute_process(COMMAND \"${HVCORE_STRIP}\" --remove-section=.comment --remove-section=.note
        \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/hvctl\")
    endif()" COMPONENT hvctl)
endif()

# The DKMS source tree: exactly what `make -C platform/linux prepare` assembles.
install(CODE "
  set(_dst \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/src/hvcore-${PROJECT_VERSION}\")
  message(STATUS \"Installing: \${_dst} (make -C platform/linux prepare)\")
  execute_process(COMMAND make -s -C \"${PROJECT_SOURCE_DIR}/platform/linux\" prepare \"OUT=\${_dst}\"
                  RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR \"make -C platform/linux prepare failed\")
  endif()" COMPONENT dkms)

# /usr/share/doc/<package>/{copyright,changelog.Debian.gz} for each package.
string(TIMESTAMP _date "%a, %d %b %Y %H:%M:%S +0000" UTC)
foreach(pair "dev;libhvcore-dev" "dkms;hvcore-dkms" "hvctl;hvctl")
  list(GET pair 0 comp)
  list(GET pair 1 pkg)
  file(WRITE ${_pkgdir}/${pkg}.changelog.Debian
"${pkg} (${PROJECT_VERSION}-${HVCORE_DEB_REVISION}) unstable; urgency=medium

  * Built with CPack from the libhvcore source tree (cmake/packaging.cmake).
    The project's own history is CHANGELOG.md in the source.

 -- ${HVCORE_DEB_MAINTAINER}  ${_date}
")
  add_custom_command(OUTPUT ${_pkgdir}/${pkg}/changelog.Debian.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${_pkgdir}/${pkg}
    COMMAND ${HVCORE_GZIP} -9n -c ${_pkgdir}/${pkg}.changelog.Debian > ${_pkgdir}/${pkg}/changelog.Debian.gz
    DEPENDS ${_pkgdir}/${pkg}.changelog.Debian VERBATIM)
  list(APPEND _changelogs ${_pkgdir}/${pkg}/changelog.Debian.gz)
  install(FILES ${PROJECT_SOURCE_DIR}/packaging/debian/copyright ${_pkgdir}/${pkg}/changelog.Debian.gz
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${pkg} COMPONENT ${comp})
  install(FILES ${PROJECT_SOURCE_DIR}/packaging/debian/lintian/${pkg}
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides COMPONENT ${comp})
endforeach()
add_custom_target(hvcore_deb_changelogs ALL DEPENDS ${_changelogs})

# ---- CPack: one .deb per component ------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME hvcore)
set(CPACK_PACKAGE_VENDOR "libhvcore")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${HVCORE_DEB_MAINTAINER}")
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL dev dkms hvctl)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${HVCORE_DEB_REVISION})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${HVCORE_DEB_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://libhvcore.org/")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libhvcore-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "libzydis-dev, libssl-dev, libc6-dev")
set(CPACK_COMPONENT_DEV_DESCRIPTION "SDK for Intel VT-x hypervisors (static libraries, headers)
libhvcore is a static C11 library for building Intel VT-x hypervisors: a
freestanding core written to the Intel SDM, thin drivers per OS and a
user-mode client.
.
This package holds the headers, the static libraries hvcore (core and the
x86-64 backend), hvcore_testing (core and a mock backend with fake CPUs, to
unit-test exit handlers in user space) and hvcore_client, the CMake package
(find_package(hvcore)), pkg-config files, hvcore(7) and the guides.")

set(CPACK_DEBIAN_DKMS_PACKAGE_NAME hvcore-dkms)
set(CPACK_DEBIAN_DKMS_PACKAGE_SECTION kernel)
set(CPACK_DEBIAN_DKMS_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_DKMS_PACKAGE_DEPENDS "dkms (>= 2.1.0.0)")
set(VERSION ${PROJECT_VERSION})
foreach(script postinst prerm)
  configure_file(${PROJECT_SOURCE_DIR}/packaging/debian/hvcore-dkms.${script} ${_pkgdir}/dkms/${script}
    @ONLY FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endforeach()
set(CPACK_DEBIAN_DKMS_PACKAGE_CONTROL_EXTRA ${_pkgdir}/dkms/postinst ${_pkgdir}/dkms/prerm)
set(CPACK_COMPONENT_DKMS_DESCRIPTION "libhvcore Linux module (hvcore.ko) source for DKMS
libhvcore is a static C11 library for building Intel VT-x hypervisors.
.
This package provides the source of hvcore.ko, the Linux driver that
virtualizes every CPU with VT-x and offers /dev/hvcore to hvctl. DKMS
builds the module for each installed kernel that has its headers.")

set(CPACK_DEBIAN_HVCTL_PACKAGE_NAME hvctl)
set(CPACK_DEBIAN_HVCTL_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_HVCTL_PACKAGE_SHLIBDEPS ON)
set(CPACK_COMPONENT_HVCTL_DESCRIPTION "command-line client for libhvcore hypervisors
hvctl reads and writes model-specific registers on one core or on every
core of a machine virtualized by libhvcore, adds debug-register access
events and prints their records, as text or JSON. It talks to hvcore.ko,
to a simulated machine in process, or to a remote stub over TCP.")

include(CPack)
