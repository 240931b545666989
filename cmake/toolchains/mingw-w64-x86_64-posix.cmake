# Cross-compiling funnel (and its dependencies) for 64-bit Windows with
# Debian's mingw-w64, posix thread model (std::thread, std::mutex and Abseil
# need it; the win32 thread model lacks them). Tests run under Wine through
# CMAKE_CROSSCOMPILING_EMULATOR, so ctest works as on Linux.
#
#   cmake -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/mingw-w64-x86_64-posix.cmake \
#         -DCMAKE_PREFIX_PATH=<prefix with Windows builds of Abseil and GoogleTest> ...
#
# The prefixes in CMAKE_PREFIX_PATH are also searched as find roots, so
# find_package finds the Windows builds there and never the Linux ones.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER x86_64-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)

set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32 ${CMAKE_PREFIX_PATH})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Static executables need no DLLs on Wine's path.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

find_program(FUNNEL_WINE NAMES wine wine64)
if(FUNNEL_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${FUNNEL_WINE})
endif()
