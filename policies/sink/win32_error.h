// funnel/policies/sink/win32_error.h
// -----------------------------------------------------------------------------
// `win32_error_status`: a Windows error code (GetLastError, WSAGetLastError)
// as an absl::Status, for the Win32 sinks (win32_handle_sink.h,
// win32_socket_sink.h). Not a policy: a helper those two share.
//
// The message names the operation, the code's symbolic name where it is one
// a writer meets (ERROR_NO_DATA, WSAECONNRESET, ...), the number, what it
// means for a writer, and the system's text from FormatMessage:
//   "WriteFile to handle 0x1f4: ERROR_NO_DATA (232): the reader closed the
//    pipe: The pipe is being closed."
// The status code follows what absl::ErrnoToStatus gives the POSIX
// counterpart (EPIPE -> FailedPrecondition, ECONNRESET -> Unavailable, ...).
//
// Thread-safety: pure functions. Blocking: none. Allocation: the message.
#ifndef FUNNEL_POLICIES_SINK_WIN32_ERROR_H_
#define FUNNEL_POLICIES_SINK_WIN32_ERROR_H_

#if !defined(_WIN32)
#error "funnel/policies/sink/win32_error.h is for Windows only"
#endif

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#include <winsock2.h>  // before windows.h

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace funnel::win32 {

// The system's text for `code` (FormatMessage), without the trailing newline;
// "unknown error" when the system has none.
inline std::string error_text(std::uint32_t code) {
  char buf[512];
  DWORD n =
      ::FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, nullptr, code,
                       MAKELANGID(LANG_NEUTRAL, SUBLANG_DEFAULT), buf, sizeof buf, nullptr);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) --n;
  if (n == 0) return "unknown error";
  return std::string(buf, n);
}

namespace detail {

struct error_info {
  std::string_view name;     // symbolic name, or empty
  std::string_view meaning;  // what it means to a writer, or empty
  absl::StatusCode code;
};

inline error_info describe(std::uint32_t code) {
  switch (code) {
    case ERROR_NO_DATA:
      return {"ERROR_NO_DATA", "the reader closed the pipe", absl::StatusCode::kFailedPrecondition};
    case ERROR_BROKEN_PIPE:
      return {"ERROR_BROKEN_PIPE", "the reader closed the pipe",
              absl::StatusCode::kFailedPrecondition};
    case ERROR_PIPE_NOT_CONNECTED:
      return {"ERROR_PIPE_NOT_CONNECTED", "no reader is connected to the pipe",
              absl::StatusCode::kFailedPrecondition};
    case ERROR_INVALID_HANDLE:
      return {"ERROR_INVALID_HANDLE", "", absl::StatusCode::kInvalidArgument};
    case ERROR_ACCESS_DENIED:
      return {"ERROR_ACCESS_DENIED", "", absl::StatusCode::kPermissionDenied};
    case ERROR_DISK_FULL:
      return {"ERROR_DISK_FULL", "", absl::StatusCode::kResourceExhausted};
    case ERROR_HANDLE_DISK_FULL:
      return {"ERROR_HANDLE_DISK_FULL", "", absl::StatusCode::kResourceExhausted};
    case ERROR_OPERATION_ABORTED:
      return {"ERROR_OPERATION_ABORTED", "", absl::StatusCode::kCancelled};
    case WSAECONNRESET:
      return {"WSAECONNRESET", "the peer reset the connection", absl::StatusCode::kUnavailable};
    case WSAECONNABORTED:
      return {"WSAECONNABORTED", "the connection was aborted", absl::StatusCode::kUnavailable};
    case WSAESHUTDOWN:
      return {"WSAESHUTDOWN", "the socket was shut down for sending",
              absl::StatusCode::kFailedPrecondition};
    case WSAENOTCONN:
      return {"WSAENOTCONN", "the socket is not connected", absl::StatusCode::kFailedPrecondition};
    case WSAENOTSOCK:
      return {"WSAENOTSOCK", "", absl::StatusCode::kInvalidArgument};
    case WSAENOBUFS:
      return {"WSAENOBUFS", "", absl::StatusCode::kResourceExhausted};
    case WSANOTINITIALISED:
      return {"WSANOTINITIALISED", "WSAStartup was not called",
              absl::StatusCode::kFailedPrecondition};
    default:
      return {"", "", absl::StatusCode::kUnknown};
  }
}

}  // namespace detail

// `what` failed with Windows error `code`: see the file comment.
inline absl::Status error_status(std::uint32_t code, std::string_view what) {
  const detail::error_info info = detail::describe(code);
  std::string message(what);
  absl::StrAppend(&message, ": ", info.name.empty() ? "Windows error" : info.name, " (", code, ")");
  if (!info.meaning.empty()) absl::StrAppend(&message, ": ", info.meaning);
  absl::StrAppend(&message, ": ", error_text(code));
  return absl::Status(info.code, message);
}

// "handle 0x1f4": how the sinks name a handle or socket in messages.
inline std::string handle_name(std::string_view kind, std::uintptr_t value) {
  return absl::StrCat(kind, " 0x", absl::Hex(value));
}

}  // namespace funnel::win32

#endif  // FUNNEL_POLICIES_SINK_WIN32_ERROR_H_
