// An empty stand-in for <sys/socket.h>, on the include path of the Windows
// build of tests/matrix_test.cc only: its memory-sink variant uses nothing
// from the header, which the file includes unconditionally. Remove this when
// matrix_test.cc guards the include with !defined(_WIN32).
#pragma once
