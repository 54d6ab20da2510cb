# Cross build for Windows x64 with Debian's mingw-w64 (gcc-mingw-w64-x86-64):
#   cmake -S . -B build-win -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake && cmake --build build-win
# builds platform/windows: hvcore.sys (the WDM driver, with the DDK headers
# mingw-w64 ships in <prefix>/include/ddk), hvcore::client + hvctl.exe and
# the Windows test client.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR AMD64)
set(HVCORE_MINGW_TRIPLET x86_64-w64-mingw32 CACHE STRING "mingw-w64 target triplet")
set(CMAKE_C_COMPILER ${HVCORE_MINGW_TRIPLET}-gcc)
set(CMAKE_ASM_COMPILER ${HVCORE_MINGW_TRIPLET}-gcc)
set(CMAKE_RC_COMPILER ${HVCORE_MINGW_TRIPLET}-windres)
set(CMAKE_FIND_ROOT_PATH /usr/${HVCORE_MINGW_TRIPLET})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
