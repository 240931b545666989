// funnel/policies/sink/win32_socket_sink.h
// -----------------------------------------------------------------------------
// `win32_socket_sink`: gather-writes batches to a Windows stream socket
// (Winsock 2: TCP, or AF_UNIX on Windows 10+) with WSASend and an array of
// WSABUFs, the counterpart of posix_writev_sink's sendmsg.
//
// When to use: sockets on Windows, blocking or not. When not to use: pipes
// and files (win32_handle_sink); POSIX systems (posix_writev_sink).
//
// Behaviour:
//   * takes at most `kMaxBufs` (1024) ranges per call and at most 1 GiB;
//     a partial send returns what was taken, and the writer resumes at the
//     exact byte (inside a header or a payload alike);
//   * retries WSAEINTR;
//   * on WSAEWOULDBLOCK (a non-blocking socket whose send buffer is full)
//     waits with WSAPoll for POLLWRNORM, up to `options.write_timeout`
//     (default: no limit), then retries; past it, DeadlineExceeded;
//   * errors carry the Windows code, its name and FormatMessage's text
//     (win32_error.h): a reset peer is "WSAECONNRESET (10054): the peer reset
//     the connection". Windows raises no signal on a dead socket.
// The caller has called WSAStartup (it made the socket).
//
// Ownership: by default the socket is borrowed (the caller closes it after
// the writer is closed); `socket_ownership::owned` closes it (closesocket) in
// the destructor.
//
// Cost on the hot path: one WSASend per call plus copying the gather list
// into the sink's reused WSABUF array (16 bytes per range; WSABUF has its
// fields in the other order and a 32-bit length, hence no reinterpretation).
// Thread-safety: one thread at a time (the writer's). Memory ordering: none of
// its own. Blocking: in WSASend (blocking sockets), in WSAPoll (non-blocking).
// Allocation: the WSABUF array (kMaxBufs entries) once, on first use.
#ifndef FUNNEL_POLICIES_SINK_WIN32_SOCKET_SINK_H_
#define FUNNEL_POLICIES_SINK_WIN32_SOCKET_SINK_H_

#if !defined(_WIN32)
#error "funnel/policies/sink/win32_socket_sink.h is for Windows only (posix_writev_sink elsewhere)"
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/policies/sink/win32_error.h"  // <winsock2.h>, error_status

namespace funnel {

enum class socket_ownership { borrowed, owned };

class win32_socket_sink {
 public:
  static constexpr std::size_t kMaxBufs = 1024;

  struct options {
    // How long to wait for a non-blocking socket to become writable before
    // the write fails with DeadlineExceeded.
    absl::Duration write_timeout = absl::InfiniteDuration();
    socket_ownership ownership = socket_ownership::borrowed;
  };

  explicit win32_socket_sink(SOCKET s) : win32_socket_sink(s, options{}) {}
  win32_socket_sink(SOCKET s, options o) : socket_(s), options_(o) {}

  win32_socket_sink(win32_socket_sink&& other) noexcept
      : socket_(std::exchange(other.socket_, INVALID_SOCKET)),
        options_(other.options_),
        bufs_(std::move(other.bufs_)) {}
  win32_socket_sink& operator=(win32_socket_sink&&) = delete;
  win32_socket_sink(const win32_socket_sink&) = delete;
  win32_socket_sink& operator=(const win32_socket_sink&) = delete;

  ~win32_socket_sink() {
    if (socket_ != INVALID_SOCKET && options_.ownership == socket_ownership::owned) {
      ::closesocket(socket_);
    }
  }

  SOCKET socket() const noexcept { return socket_; }

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    if (!bufs_) bufs_ = std::make_unique<WSABUF[]>(kMaxBufs);
    constexpr std::size_t kMaxBytes = std::size_t{1} << 30;
    std::size_t count = 0, bytes = 0;
    for (; count < std::min(buffers.size(), kMaxBufs) && bytes < kMaxBytes; ++count) {
      const std::size_t len = std::min(buffers[count].size, kMaxBytes - bytes);
      bufs_[count].buf = reinterpret_cast<char*>(const_cast<std::byte*>(buffers[count].data));
      bufs_[count].len = static_cast<ULONG>(len);
      bytes += len;
    }
    for (;;) {
      DWORD sent = 0;
      if (::WSASend(socket_, bufs_.get(), static_cast<DWORD>(count), &sent, 0, nullptr, nullptr) ==
          0) {
        if (sent > 0) return std::size_t{sent};
        // Nothing taken without an error: treat as would-block.
      } else {
        const int err = ::WSAGetLastError();
        if (err == WSAEINTR) continue;
        if (err != WSAEWOULDBLOCK) {
          return win32::error_status(static_cast<std::uint32_t>(err),
                                     absl::StrCat("WSASend to ", name()));
        }
      }
      if (absl::Status s = wait_writable(); !s.ok()) return s;
    }
  }

 private:
  std::string name() const {
    return win32::handle_name("socket", static_cast<std::uintptr_t>(socket_));
  }

  absl::Status wait_writable() {
    const absl::Time deadline = options_.write_timeout == absl::InfiniteDuration()
                                    ? absl::InfiniteFuture()
                                    : absl::Now() + options_.write_timeout;
    for (;;) {
      INT timeout_ms = -1;
      if (deadline != absl::InfiniteFuture()) {
        const absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) {
          return absl::DeadlineExceededError(absl::StrCat(
              name(), " not writable within ", absl::FormatDuration(options_.write_timeout)));
        }
        timeout_ms = static_cast<INT>(std::min<int64_t>(
            absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 1 << 30));
      }
      WSAPOLLFD p{};
      p.fd = socket_;
      p.events = POLLWRNORM;
      const int r = ::WSAPoll(&p, 1, timeout_ms);
      if (r > 0) return absl::OkStatus();  // writable, or an error the next send reports
      if (r < 0) {
        const int err = ::WSAGetLastError();
        if (err == WSAEINTR) continue;
        return win32::error_status(static_cast<std::uint32_t>(err),
                                   absl::StrCat("WSAPoll on ", name()));
      }
    }
  }

  SOCKET socket_;
  options options_;
  std::unique_ptr<WSABUF[]> bufs_;
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_SINK_WIN32_SOCKET_SINK_H_
