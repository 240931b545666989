// funnel/policies/sink/posix_writev_sink.h
// -----------------------------------------------------------------------------
// `posix_writev_sink`: gather-writes batches to a POSIX file descriptor: a
// pipe or FIFO, a socket, a tty or other character device, a file.
//
// When to use: any fd on Linux. When not to use: Windows (win32_*_sink). On
// macOS and the BSDs /dev/fd/N is a dup, not a new description, so blocking
// pipes and ttys are refused there unless `interruptible_pipes = false`.
//
// Its own fd. The constructor takes an fd of its own (>= 3, close-on-exec);
// the sink writes only through it and never changes the flags of a
// description other fds share (a dup, `2>&1`, a parent shell keep theirs). An
// fd number the caller closes and reuses cannot redirect the frames.
//   * sockets: a dup; sendmsg(MSG_DONTWAIT | MSG_NOSIGNAL).
//   * pipes, FIFOs, character devices (ttys, ptys, /dev/null): /proc/self/fd/N
//     reopened O_WRONLY | O_NONBLOCK | O_NOCTTY, a new open file description
//     (checked: same dev/ino/rdev, O_NONBLOCK set). Not reopened: a pty
//     master (char 5:2: reopening creates a new pty) and a read-only fd (a dup
//     keeps its EBADF). No reader (ENXIO): a dup, whose writes fail with
//     EPIPE (a reader opening that FIFO later can make them block). Where
//     no such description can be had (no /proc, a pty master,
//     EACCES) the sink refuses the fd: status() is FailedPrecondition naming
//     the fd, the cause and the way out, `interruptible_pipes = false` (a
//     plain dup written blocking: close(deadline) then waits for a write the
//     reader never takes).
//   * regular files, block devices, anything else: a dup.
// status() also reports a failed set-up step ("Too many open files" for the
// dup or the wake pipe); basic_writer then fails send, flush and close with it.
//
// write(): at most IOV_MAX ranges per call; retries EINTR; on EAGAIN waits in
// poll() for POLLOUT or a cancel. A call that makes no progress for
// `options.write_timeout` (default: none) fails with DeadlineExceeded "fd N
// not writable within T", blocking fd or not. SIGPIPE never kills the
// process: MSG_NOSIGNAL for sockets; the writer thread blocks SIGPIPE once
// (on_writer_thread_start); a write from another thread blocks it around the
// call and consumes the signal it raised. Errors carry the errno text and the
// caller's fd number, fd(): "writev to fd N: Broken pipe".
// cancel() sets a flag and wakes poll() through the sink's wake pipe: the
// waiting write and every later one fail with Cancelled. It touches nothing
// shared (no shutdown()): the peer sees EOF when the fd's owner closes it.
//
// Ownership: the caller's fd is borrowed, or closed by the destructor with
// `fd_ownership::owned`. The sink's own fd is closed by on_writer_thread_stop
// (before the writer's close() returns, so the peer sees EOF once the caller
// closes its fd; a wrapper sink must forward the hook) or by the destructor.
//
// Cost on the hot path: one writev/sendmsg per call plus copying the gather
// list into the reused iovec array (16 bytes per range). Construction: fstat,
// fcntl, an open or a dup, a pipe: up to three fds.
// Thread-safety: cancel(), fd() and status() from any thread, concurrently
// with write(); the rest from one thread at a time (the writer thread).
// Memory ordering: cancel() stores `cancelled_` (release) before it writes
// the wake byte; write() loads it (acquire) before each call and after poll().
// Blocking: in poll() while the fd is full; in writev only with
// `interruptible_pipes = false` on a blocking pipe or device.
// Allocation: the iovec array (IOV_MAX entries) once, on first use.
#ifndef FUNNEL_POLICIES_SINK_POSIX_WRITEV_SINK_H_
#define FUNNEL_POLICIES_SINK_POSIX_WRITEV_SINK_H_

#include <errno.h>
#include <fcntl.h>
#include <limits.h>  // IOV_MAX
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/uio.h>  // iovec, writev
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/policies/sink/detail/posix_own_fd.h"  // the sink's own fds

namespace funnel {

enum class fd_ownership { borrowed, owned };

class posix_writev_sink {
 public:
  struct options {
    // A write() call that makes no progress for this long fails with
    // DeadlineExceeded (every fd kind; see above).
    absl::Duration write_timeout = absl::InfiniteDuration();
    fd_ownership ownership = fd_ownership::borrowed;
    // Pipes, FIFOs and character devices: true writes through a non-blocking
    // description of the sink's own, so that cancel() and write_timeout work,
    // and refuses the fd (status()) when there is none; false writes through
    // a plain dup, blocking if the fd is: close(deadline) then waits for a
    // write the reader never takes.
    bool interruptible_pipes = true;
  };

  explicit posix_writev_sink(int fd) : posix_writev_sink(fd, options{}) {}
  posix_writev_sink(int fd, options o) : fd_(fd), options_(o) {
    detail::posix_sink_fds f;
    status_ = detail::take_posix_sink_fds(fd, o.interruptible_pipes, f);
    own_ = f.own;  // on failure, what was taken is closed by the destructor
    wake_[0] = f.wake[0];
    wake_[1] = f.wake[1];
    is_socket_ = f.is_socket;
  }

  // Moves happen before the writer thread starts (cancel() is not running).
  posix_writev_sink(posix_writev_sink&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)),
        own_(std::exchange(other.own_, -1)),
        wake_{std::exchange(other.wake_[0], -1), std::exchange(other.wake_[1], -1)},
        options_(other.options_),
        is_socket_(other.is_socket_),
        status_(std::move(other.status_)),
        cancelled_(other.cancelled_.load(std::memory_order_relaxed)),  // not shared yet
        iov_(std::move(other.iov_)) {}
  posix_writev_sink& operator=(posix_writev_sink&&) = delete;
  posix_writev_sink(const posix_writev_sink&) = delete;
  posix_writev_sink& operator=(const posix_writev_sink&) = delete;

  ~posix_writev_sink() {
    for (int fd : {own_, wake_[0], wake_[1]}) {
      if (fd >= 0) ::close(fd);
    }
    if (fd_ >= 0 && options_.ownership == fd_ownership::owned) ::close(fd_);
  }

  // OK, or why this sink cannot write (see above). Any thread.
  absl::Status status() const { return status_; }

  // The caller's fd number (what messages name), not the sink's own fd.
  int fd() const noexcept { return fd_; }

  // Interrupts a write waiting for the peer; every later write fails with
  // Cancelled. Any thread, concurrently with write(); idempotent.
  void cancel() noexcept {
    // Release: pairs with the acquire in cancelled(); stored before the wake.
    if (cancelled_.exchange(true, std::memory_order_release)) return;
    if (wake_[1] < 0) return;  // files: writes do not wait for a peer
    const char byte = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_[1], &byte, 1);  // wakes poll()
  }

  // Called once on the writer thread: that thread is funnel's, so it may keep
  // SIGPIPE blocked for its whole life and skip the per-call mask dance.
  void on_writer_thread_start() noexcept {
    const sigset_t pipe_only = sigpipe_only();
    if (pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr) == 0) sigpipe_blocked_here() = true;
  }

  // Called once on the writer thread after its last write: releases the
  // sink's own fd, so the peer sees EOF once the caller closes its fd. (Not
  // the wake pipe: cancel() may still be writing to it.)
  void on_writer_thread_stop() noexcept {
    if (own_ >= 0) ::close(own_);
    own_ = -1;
  }

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    if (!status_.ok()) return status_;
    if (cancelled()) return cancelled_status();
    if (own_ < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat("write to fd ", fd_, " after on_writer_thread_stop released the sink's fd"));
    }
    if (!iov_) iov_ = std::make_unique<iovec[]>(kMaxIov);
    const std::size_t count = std::min(buffers.size(), kMaxIov);
    for (std::size_t i = 0; i < count; ++i) {
      iov_[i].iov_base = const_cast<std::byte*>(buffers[i].data);  // writev takes non-const
      iov_[i].iov_len = buffers[i].size;
    }
    absl::Time deadline = absl::InfinitePast();  // set at the first EAGAIN of this call
    for (;;) {
      const ssize_t n = write_once(count);
      if (n >= 0) return static_cast<std::size_t>(n);
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        if (deadline == absl::InfinitePast()) deadline = absl::Now() + options_.write_timeout;
        if (absl::Status s = wait_writable(deadline); !s.ok()) return s;
        continue;
      }
      if (cancelled()) return cancelled_status();
      return absl::ErrnoToStatus(err,
                                 absl::StrCat(is_socket_ ? "sendmsg" : "writev", " to fd ", fd_));
    }
  }

 private:
  static constexpr std::size_t kMaxIov = IOV_MAX;

  bool cancelled() const noexcept {
    // Acquire: pairs with the release in cancel().
    return cancelled_.load(std::memory_order_acquire);
  }
  absl::Status cancelled_status() const {
    return absl::CancelledError(
        absl::StrCat("write to fd ", fd_, " cancelled: the writer was stopped (close deadline)"));
  }

  static sigset_t sigpipe_only() noexcept {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    return set;
  }
  // Per thread: has this thread blocked SIGPIPE for good (the writer thread)?
  static bool& sigpipe_blocked_here() noexcept {
    thread_local bool blocked = false;
    return blocked;
  }

  ssize_t write_once(std::size_t count) {
    if (is_socket_) {
      msghdr msg{};
      msg.msg_iov = iov_.get();
      msg.msg_iovlen = count;
      return ::sendmsg(own_, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    if (sigpipe_blocked_here()) {
      const ssize_t n = ::writev(own_, iov_.get(), static_cast<int>(count));
      if (n < 0 && errno == EPIPE) consume_pending_sigpipe();
      return n;
    }
    // Not the writer thread: block SIGPIPE around the call, consume the
    // signal this call raised (unless one was pending already), restore.
    const sigset_t pipe_only = sigpipe_only();
    sigset_t old_mask, pending;
    sigpending(&pending);
    const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
    const ssize_t n = ::writev(own_, iov_.get(), static_cast<int>(count));
    const int err = errno;
    if (n < 0 && err == EPIPE && !was_pending) consume_pending_sigpipe();
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    errno = err;
    return n;
  }

  static void consume_pending_sigpipe() noexcept {
    const int saved = errno;
    const sigset_t pipe_only = sigpipe_only();
    const timespec zero{0, 0};
    while (::sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
    errno = saved;
  }

  absl::Status wait_writable(absl::Time deadline) {
    for (;;) {
      int timeout_ms = -1;
      if (deadline != absl::InfiniteFuture()) {
        const absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) {
          return absl::DeadlineExceededError(absl::StrCat(
              "fd ", fd_, " not writable within ", absl::FormatDuration(options_.write_timeout),
              " (write_timeout: no byte taken)"));
        }
        timeout_ms = static_cast<int>(std::min<int64_t>(
            absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 1 << 30));
      }
      pollfd p[2] = {{own_, POLLOUT, 0}, {wake_[0], POLLIN, 0}};
      const int r = ::poll(p, 2, timeout_ms);  // a negative fd is ignored
      if (cancelled()) return cancelled_status();
      if (r > 0 && p[0].revents != 0) return absl::OkStatus();  // or an error write reports
      if (r < 0 && errno != EINTR) {
        return absl::ErrnoToStatus(errno, absl::StrCat("poll on fd ", fd_));
      }
    }
  }

  int fd_;                  // the caller's: borrowed or owned
  int own_ = -1;            // the sink's own fd, written through
  int wake_[2] = {-1, -1};  // cancel() writes [1]; poll() watches [0]
  options options_;
  bool is_socket_ = false;
  absl::Status status_;
  std::atomic<bool> cancelled_{false};
  std::unique_ptr<iovec[]> iov_;
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_SINK_POSIX_WRITEV_SINK_H_
