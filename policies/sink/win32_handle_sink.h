// funnel/policies/sink/win32_handle_sink.h
// -----------------------------------------------------------------------------
// `win32_handle_sink`: writes batches to a Windows HANDLE: an anonymous pipe
// (CreatePipe), either end of a named pipe, or a file. The Win32 counterpart
// of posix_writev_sink.
//
// When to use: pipes and files on Windows, opened for synchronous I/O (no
// FILE_FLAG_OVERLAPPED). When not to use: sockets (win32_socket_sink: WSASend
// takes the whole gather list in one call); POSIX systems (posix_writev_sink).
//
// Behaviour: Windows has no gather write for pipes (WriteFileGather needs
// page-aligned, page-sized buffers, so it cannot carry frames). Each write()
// walks the gather list in one pass:
//   * ranges shorter than `options.copy_below` (headers, small payloads) are
//     copied, run after run, into one staging buffer of `options.staging_bytes`
//     and written with one WriteFile; under Wine a WriteFile costs as much as
//     copying several KiB (docs/performance.md, "Win32 sinks"), and Windows
//     is alike in kind;
//   * longer ranges are written straight from the producer's buffer;
//   * a WriteFile that takes less than it was offered ends the call with the
//     bytes taken so far (the writer resumes at the exact byte); an error
//     after some bytes went out also returns those bytes first, so the count
//     is always exact, and the next call reports the error;
//   * a handle in PIPE_NOWAIT mode that takes nothing is retried every
//     millisecond up to `options.write_timeout`, then DeadlineExceeded.
// Errors carry the Windows code, its name and FormatMessage's text
// (win32_error.h): a closed reader is "ERROR_NO_DATA (232): the reader closed
// the pipe" (or ERROR_BROKEN_PIPE), FailedPrecondition like POSIX's EPIPE.
// Windows raises no signal for a closed pipe, so nothing can kill the process.
//
// Ownership: by default the handle is borrowed (the caller closes it after
// the writer is closed); `handle_ownership::owned` closes it in the destructor.
//
// Cost on the hot path: one WriteFile per staged run and per large range;
// copying the small ranges (memcpy). Thread-safety: one thread at a time (the
// writer's). Memory ordering: none of its own. Blocking: in WriteFile while
// the pipe is full (the reader is slow) or the disk is busy. Allocation: the
// staging buffer once, on first use.
#ifndef FUNNEL_POLICIES_SINK_WIN32_HANDLE_SINK_H_
#define FUNNEL_POLICIES_SINK_WIN32_HANDLE_SINK_H_

#if !defined(_WIN32)
#error "funnel/policies/sink/win32_handle_sink.h is for Windows only (posix_writev_sink elsewhere)"
#endif

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/policies/sink/win32_error.h"  // <windows.h>, error_status

namespace funnel {

enum class handle_ownership { borrowed, owned };

class win32_handle_sink {
 public:
  struct options {
    // Ranges shorter than this are copied into the staging buffer (0: never
    // copy, one WriteFile per range).
    std::size_t copy_below = 4096;
    // The staging buffer's size: at most this much is copied per WriteFile.
    std::size_t staging_bytes = 64 * 1024;
    // How long a PIPE_NOWAIT handle that takes nothing is retried.
    absl::Duration write_timeout = absl::InfiniteDuration();
    handle_ownership ownership = handle_ownership::borrowed;
  };

  explicit win32_handle_sink(HANDLE h) : win32_handle_sink(h, options{}) {}
  win32_handle_sink(HANDLE h, options o) : handle_(h), options_(o) {
    options_.staging_bytes = std::max<std::size_t>(options_.staging_bytes, 1);
    options_.copy_below = std::min(options_.copy_below, options_.staging_bytes + 1);
  }

  win32_handle_sink(win32_handle_sink&& other) noexcept
      : handle_(std::exchange(other.handle_, INVALID_HANDLE_VALUE)),
        options_(other.options_),
        staging_(std::move(other.staging_)) {}
  win32_handle_sink& operator=(win32_handle_sink&&) = delete;
  win32_handle_sink(const win32_handle_sink&) = delete;
  win32_handle_sink& operator=(const win32_handle_sink&) = delete;

  ~win32_handle_sink() {
    if (handle_ != INVALID_HANDLE_VALUE && handle_ != nullptr &&
        options_.ownership == handle_ownership::owned) {
      ::CloseHandle(handle_);
    }
  }

  HANDLE handle() const noexcept { return handle_; }

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    std::size_t total = 0;
    std::size_t i = 0;
    while (i < buffers.size()) {
      const std::byte* data;
      std::size_t size;
      if (buffers[i].size < options_.copy_below) {
        // A run of small ranges, copied while they fit.
        if (!staging_) staging_ = std::make_unique<std::byte[]>(options_.staging_bytes);
        size = 0;
        while (i < buffers.size() && buffers[i].size < options_.copy_below &&
               size + buffers[i].size <= options_.staging_bytes) {
          std::memcpy(staging_.get() + size, buffers[i].data, buffers[i].size);
          size += buffers[i].size;
          ++i;
        }
        data = staging_.get();
      } else {
        data = buffers[i].data;
        size = buffers[i].size;
        ++i;
      }
      absl::StatusOr<std::size_t> n = write_file(data, size);
      if (!n.ok()) {
        if (total > 0) return total;  // report the bytes first, the error next call
        return n.status();
      }
      total += *n;
      if (*n < size) return total;  // short: the writer resumes at the exact byte
    }
    return total;
  }

 private:
  // One WriteFile of at most 1 GiB; retries a PIPE_NOWAIT handle that is full.
  absl::StatusOr<std::size_t> write_file(const std::byte* data, std::size_t size) {
    const DWORD want = static_cast<DWORD>(std::min<std::size_t>(size, std::size_t{1} << 30));
    absl::Time deadline = absl::InfiniteFuture();
    for (;;) {
      DWORD written = 0;
      if (!::WriteFile(handle_, data, want, &written, nullptr)) {
        return win32::error_status(
            ::GetLastError(),
            absl::StrCat("WriteFile to ",
                         win32::handle_name("handle", reinterpret_cast<std::uintptr_t>(handle_))));
      }
      if (written > 0) return std::size_t{written};
      // A non-blocking pipe (PIPE_NOWAIT) that is full takes nothing.
      if (deadline == absl::InfiniteFuture() && options_.write_timeout != absl::InfiniteDuration())
        deadline = absl::Now() + options_.write_timeout;
      if (absl::Now() >= deadline) {
        return absl::DeadlineExceededError(
            absl::StrCat(win32::handle_name("handle", reinterpret_cast<std::uintptr_t>(handle_)),
                         " not writable within ", absl::FormatDuration(options_.write_timeout)));
      }
      ::Sleep(1);
    }
  }

  HANDLE handle_;
  options options_;
  std::unique_ptr<std::byte[]> staging_;
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_SINK_WIN32_HANDLE_SINK_H_
