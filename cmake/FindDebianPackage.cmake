# hvcore_require_package(<find_package name> <Debian package>)
# find_package() in CONFIG mode, with an error that says what to install.
macro(hvcore_require_package name debpkg)
  find_package(${name} CONFIG QUIET)
  if(NOT ${name}_FOUND)
    message(FATAL_ERROR
      "libhvcore needs ${name}, which was not found.\n"
      "On Debian/Ubuntu install it with:  apt-get install ${debpkg}\n"
      "(or point CMAKE_PREFIX_PATH / ${name}_DIR at an installation).")
  endif()
endmacro()
