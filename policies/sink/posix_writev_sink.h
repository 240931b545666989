// funnel/policies/sink/posix_writev_sink.h
// -----------------------------------------------------------------------------
// `posix_writev_sink`: gather-writes batches to a POSIX file descriptor: a
// pipe, a Unix or TCP socket, a regular file.
//
// When to use: any fd on Linux/macOS. Sockets go through sendmsg() with
// MSG_NOSIGNAL; everything else through writev().
// When not to use: Windows (win32_handle_sink, win32_socket_sink).
//
// Behaviour:
//   * takes at most IOV_MAX ranges per call (the writer resumes with the rest);
//   * retries EINTR;
//   * on EAGAIN/EWOULDBLOCK (non-blocking fds) waits with poll() for POLLOUT,
//     up to `options.write_timeout` (default: no limit), then retries;
//   * never lets SIGPIPE kill the process: sockets use MSG_NOSIGNAL; for
//     pipes, the writer thread blocks SIGPIPE for itself once
//     (on_writer_thread_start), and a write from any other thread blocks it
//     around the call and consumes the signal it raised. A closed reader
//     becomes an error status "writev to fd N: Broken pipe".
//   * errors carry the errno text: absl::ErrnoToStatus.
//   * cancel() (called by close(deadline) / the destructor's shutdown_timeout
//     from the owner thread) interrupts a write waiting for the peer and fails
//     every later write with Cancelled: a socket is shut down for writing
//     (shutdown(SHUT_WR): a blocked sendmsg returns at once, the peer sees
//     EOF); a wait in poll() is woken through a wake pipe the sink owns. A
//     blocking pipe cannot be interrupted in writev, so by default the sink
//     puts a pipe's fd in non-blocking mode for the writer thread's life
//     (on_writer_thread_start sets O_NONBLOCK, on_writer_thread_stop restores
//     the flags, before close() returns); writes then wait in poll().
//     `options.interruptible_pipes = false` leaves the flags alone.
//
// Ownership: by default the fd is borrowed (the caller closes it after the
// writer is closed); `fd_ownership::owned` closes it in the destructor.
//
// Cost on the hot path: one writev/sendmsg per call plus copying the gather
// list into the sink's reused iovec array (16 bytes per range).
// Thread-safety: cancel() from any thread, concurrently with write().
// Memory ordering: cancel() stores `cancelled` (release) before it wakes the
// writer; write() reads it (acquire) after poll() or a failed call.
// Blocking: in the system call, and in poll() when the fd would block.
// Allocation: the iovec array (IOV_MAX entries) once, on first use; for pipes
// and sockets, a small cancel state (and its wake pipe) at construction.
#ifndef FUNNEL_POLICIES_SINK_POSIX_WRITEV_SINK_H_
#define FUNNEL_POLICIES_SINK_POSIX_WRITEV_SINK_H_

#include <errno.h>
#include <fcntl.h>
#include <limits.h>  // IOV_MAX
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>  // iovec, writev
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <memory>
#include <span>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"

namespace funnel {

enum class fd_ownership { borrowed, owned };

class posix_writev_sink {
 public:
  struct options {
    // How long to wait for a non-blocking fd to become writable before the
    // write fails with DeadlineExceeded.
    absl::Duration write_timeout = absl::InfiniteDuration();
    fd_ownership ownership = fd_ownership::borrowed;
    // Make a blocking pipe non-blocking so that cancel() can interrupt a
    // write to a reader that stopped reading (see above).
    bool interruptible_pipes = true;
  };

  explicit posix_writev_sink(int fd) : posix_writev_sink(fd, options{}) {}
  posix_writev_sink(int fd, options o) : fd_(fd), options_(o) {
    struct stat st;
    const bool known = ::fstat(fd, &st) == 0;
    is_socket_ = known && S_ISSOCK(st.st_mode);
    is_pipe_ = known && S_ISFIFO(st.st_mode);
    if (is_socket_ || is_pipe_) cancel_ = std::make_unique<cancel_state>();
  }

  posix_writev_sink(posix_writev_sink&& other) noexcept
      : fd_(std::exchange(other.fd_, -1)),
        options_(other.options_),
        is_socket_(other.is_socket_),
        is_pipe_(other.is_pipe_),
        restore_flags_(std::exchange(other.restore_flags_, -1)),
        iov_(std::move(other.iov_)),
        cancel_(std::move(other.cancel_)) {}
  posix_writev_sink& operator=(posix_writev_sink&&) = delete;
  posix_writev_sink(const posix_writev_sink&) = delete;
  posix_writev_sink& operator=(const posix_writev_sink&) = delete;

  ~posix_writev_sink() {
    if (fd_ >= 0 && options_.ownership == fd_ownership::owned) ::close(fd_);
  }

  // Interrupts a write waiting for the peer; every later write fails with
  // Cancelled. Any thread, concurrently with write(); idempotent.
  void cancel() noexcept {
    if (!cancel_) return;  // regular files and devices: writes do not wait for a peer
    // Release: pairs with the acquire in cancelled(); stored before the wake.
    if (cancel_->cancelled.exchange(true, std::memory_order_release)) return;
    if (is_socket_) ::shutdown(fd_, SHUT_WR);  // a blocked sendmsg returns EPIPE
    const char byte = 1;
    [[maybe_unused]] const ssize_t n = ::write(cancel_->wake[1], &byte, 1);  // wakes poll()
  }

  int fd() const noexcept { return fd_; }

  // Called once on the writer thread: that thread is funnel's, so it may keep
  // SIGPIPE blocked for its whole life and skip the per-call mask dance.
  void on_writer_thread_start() noexcept {
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    if (pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr) == 0) sigpipe_blocked_here() = true;
    if (is_pipe_ && options_.interruptible_pipes) {
      const int flags = ::fcntl(fd_, F_GETFL);
      if (flags >= 0 && (flags & O_NONBLOCK) == 0 &&
          ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) == 0) {
        restore_flags_ = flags;
      }
    }
  }

  // Called once on the writer thread after its last write: gives the fd its
  // flags back (the caller's fd as it was), while the fd is surely still open.
  void on_writer_thread_stop() noexcept {
    if (restore_flags_ >= 0) ::fcntl(fd_, F_SETFL, restore_flags_);
    restore_flags_ = -1;
  }

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    if (cancelled()) return cancelled_status();
    if (!iov_) iov_ = std::make_unique<iovec[]>(kMaxIov);
    const std::size_t count = std::min(buffers.size(), kMaxIov);
    for (std::size_t i = 0; i < count; ++i) {
      iov_[i].iov_base = const_cast<std::byte*>(buffers[i].data);  // writev takes non-const
      iov_[i].iov_len = buffers[i].size;
    }
    for (;;) {
      const ssize_t n = write_once(count);
      if (n >= 0) return static_cast<std::size_t>(n);
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        if (absl::Status s = wait_writable(); !s.ok()) return s;
        continue;
      }
      if (cancelled()) return cancelled_status();  // e.g. EPIPE after our own shutdown
      return absl::ErrnoToStatus(err,
                                 absl::StrCat(is_socket_ ? "sendmsg" : "writev", " to fd ", fd_));
    }
  }

 private:
  static constexpr std::size_t kMaxIov = IOV_MAX;

  // Shared by write() and cancel(): the flag and a non-blocking wake pipe.
  struct cancel_state {
    std::atomic<bool> cancelled{false};
    int wake[2] = {-1, -1};
    cancel_state() {
      if (::pipe(wake) == 0) {
        for (int fd : wake) {
          ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
          ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
      }
    }
    ~cancel_state() {
      for (int fd : wake) {
        if (fd >= 0) ::close(fd);
      }
    }
  };

  bool cancelled() const noexcept {
    // Acquire: pairs with the release in cancel().
    return cancel_ && cancel_->cancelled.load(std::memory_order_acquire);
  }
  absl::Status cancelled_status() const {
    return absl::CancelledError(
        absl::StrCat("write to fd ", fd_, " cancelled: the writer was stopped (close deadline)"));
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
      return ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
    }
    if (sigpipe_blocked_here()) {
      const ssize_t n = ::writev(fd_, iov_.get(), static_cast<int>(count));
      if (n < 0 && errno == EPIPE) consume_pending_sigpipe();
      return n;
    }
    // Not the writer thread: block SIGPIPE around the call, consume the
    // signal this call raised (unless one was pending already), restore.
    sigset_t pipe_only, old_mask, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigpending(&pending);
    const bool was_pending = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
    const ssize_t n = ::writev(fd_, iov_.get(), static_cast<int>(count));
    const int err = errno;
    if (n < 0 && err == EPIPE && !was_pending) consume_pending_sigpipe();
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    errno = err;
    return n;
  }

  static void consume_pending_sigpipe() noexcept {
    const int saved = errno;
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    const timespec zero{0, 0};
    while (::sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
    errno = saved;
  }

  absl::Status wait_writable() {
    const absl::Time deadline = options_.write_timeout == absl::InfiniteDuration()
                                    ? absl::InfiniteFuture()
                                    : absl::Now() + options_.write_timeout;
    for (;;) {
      int timeout_ms = -1;
      if (deadline != absl::InfiniteFuture()) {
        const absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) {
          return absl::DeadlineExceededError(absl::StrCat(
              "fd ", fd_, " not writable within ", absl::FormatDuration(options_.write_timeout)));
        }
        timeout_ms = static_cast<int>(std::min<int64_t>(
            absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1))), 1 << 30));
      }
      pollfd p[2] = {{fd_, POLLOUT, 0}, {cancel_ ? cancel_->wake[0] : -1, POLLIN, 0}};
      const int r = ::poll(p, 2, timeout_ms);  // a negative fd is ignored
      if (cancelled()) return cancelled_status();
      if (r > 0 && p[0].revents != 0) return absl::OkStatus();  // or an error write reports
      if (r < 0 && errno != EINTR) {
        return absl::ErrnoToStatus(errno, absl::StrCat("poll on fd ", fd_));
      }
    }
  }

  int fd_;
  options options_;
  bool is_socket_ = false;
  bool is_pipe_ = false;
  int restore_flags_ = -1;  // the fd's flags before we set O_NONBLOCK, or -1
  std::unique_ptr<iovec[]> iov_;
  std::unique_ptr<cancel_state> cancel_;  // pipes and sockets only
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_SINK_POSIX_WRITEV_SINK_H_
