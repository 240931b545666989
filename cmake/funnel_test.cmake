# The host-side checks (docs_in_sync, cmake_tests_in_sync) need Python.
find_package(Python3 COMPONENTS Interpreter)

# funnel_cc_test(): one GoogleTest binary, one ctest test, like a Bazel cc_test.
#
#   funnel_cc_test(<name> SRCS <files> DEPS <targets> [DEFINES <defs>]
#                  [POSIX_ONLY] [WINDOWS_ONLY] [TIMEOUT <seconds>]
#                  [INCLUDES <dirs>])
#
# Every test links GoogleTest's main and GMock, sees the repository root as
# an include directory (for "tests/test_util.h", "examples/...") and is built
# with FUNNEL_WARNINGS (-Wall -Wextra -Werror). POSIX_ONLY tests (real fds,
# sockets, signals) are left out of Windows builds; WINDOWS_ONLY ones (the
# Win32 sinks) out of the others. Under a cross build ctest runs the
# executable through CMAKE_CROSSCOMPILING_EMULATOR (Wine).
function(funnel_cc_test name)
  cmake_parse_arguments(T "POSIX_ONLY;WINDOWS_ONLY" "TIMEOUT" "SRCS;DEPS;DEFINES;INCLUDES"
                        ${ARGN})
  if((T_POSIX_ONLY AND WIN32) OR (T_WINDOWS_ONLY AND NOT WIN32))
    return()
  endif()
  add_executable(${name} ${T_SRCS})
  target_link_libraries(${name} PRIVATE ${T_DEPS} GTest::gmock GTest::gtest_main
                        Threads::Threads)
  target_include_directories(${name} PRIVATE ${T_INCLUDES} "${PROJECT_SOURCE_DIR}")
  target_compile_definitions(${name} PRIVATE ${T_DEFINES})
  target_compile_options(${name} PRIVATE ${FUNNEL_WARNINGS})
  add_test(NAME ${name} COMMAND ${name})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES TIMEOUT ${T_TIMEOUT})
endfunction()

# funnel_sh_test(): a host-side check (shell or Python) run from the
# repository root, like a Bazel sh_test; only in native (non-cross) builds.
function(funnel_sh_test name)
  cmake_parse_arguments(T "" "" "COMMAND;ENVIRONMENT" ${ARGN})
  if(CMAKE_CROSSCOMPILING OR WIN32)
    return()
  endif()
  add_test(NAME ${name} COMMAND ${T_COMMAND} WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}")
  if(T_ENVIRONMENT)
    set_tests_properties(${name} PROPERTIES ENVIRONMENT "${T_ENVIRONMENT}")
  endif()
endfunction()
