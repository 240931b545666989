// tests/posix_test_util.h: fd helpers shared by funnel's POSIX tests (real
// pipes, socket pairs, ptys, reader threads, signals, a watchdog). Not part
// of the testing kit.
#ifndef FUNNEL_TESTS_POSIX_TEST_UTIL_H_
#define FUNNEL_TESTS_POSIX_TEST_UTIL_H_

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"  // watchdog

namespace funnel::posix_test {

// --- fds ---------------------------------------------------------------------

// Closes its fd on destruction (unless released earlier).
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    reset();
    fd_ = std::exchange(other.fd_, -1);
    return *this;
  }
  ~unique_fd() { reset(); }
  int get() const { return fd_; }
  // Forgets the fd without closing it (someone else closed it).
  int release() { return std::exchange(fd_, -1); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

struct fd_pair {
  unique_fd read_end;
  unique_fd write_end;
};

inline fd_pair make_pipe() {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0) << "pipe: " << errno;
  return {unique_fd(fds[0]), unique_fd(fds[1])};
}

inline fd_pair make_socketpair() {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0) << "socketpair: " << errno;
  return {unique_fd(fds[0]), unique_fd(fds[1])};
}

inline void set_nonblocking(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFL);
  ASSERT_GE(flags, 0);
  ASSERT_EQ(::fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK)), 0);
}

// Shrinks a pipe to one page; returns its new capacity in bytes.
inline int shrink_pipe(int fd) {
  EXPECT_GE(::fcntl(fd, F_SETPIPE_SZ, 4096), 0) << "F_SETPIPE_SZ: " << errno;
  return ::fcntl(fd, F_GETPIPE_SZ);
}

// A pty pair: `master` (what a terminal emulator reads) and `slave` (what a
// program writes to, like a terminal), the slave in raw mode (cfmakeraw: no
// output processing, so bytes arrive as written), neither a controlling tty.
struct pty_pair {
  unique_fd master;
  unique_fd slave;
};

// Opens a pty pair; "" on success, else why not (the caller skips).
inline std::string open_pty(pty_pair& out) {
  unique_fd master(::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (master.get() < 0) return absl::StrCat("posix_openpt: errno ", errno);
  char name[128];
  if (::grantpt(master.get()) != 0 || ::unlockpt(master.get()) != 0 ||
      ::ptsname_r(master.get(), name, sizeof name) != 0) {
    return absl::StrCat("grantpt/unlockpt/ptsname_r: errno ", errno);
  }
  unique_fd slave(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (slave.get() < 0) return absl::StrCat("open ", name, ": errno ", errno);
  termios t;
  if (::tcgetattr(slave.get(), &t) != 0) return absl::StrCat("tcgetattr: errno ", errno);
  ::cfmakeraw(&t);
  if (::tcsetattr(slave.get(), TCSANOW, &t) != 0) return absl::StrCat("tcsetattr: errno ", errno);
  out.master = std::move(master);
  out.slave = std::move(slave);
  return "";
}

using testing_internal::watchdog;  // tests/test_util.h

inline bool fd_is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

// Reads `fd` until EOF on its own thread, `chunk` bytes at most per read().
// `write_end` is the other end of the pipe or socket: if the test ends early
// (a failed ASSERT) the destructor closes it, so the thread sees EOF and joins.
class reader_thread {
 public:
  reader_thread(int fd, unique_fd& write_end, std::size_t chunk = 1 << 16)
      : write_end_(write_end), thread_([this, fd, chunk] { run(fd, chunk); }) {}
  ~reader_thread() {
    if (thread_.joinable()) {
      write_end_.reset();
      thread_.join();
    }
  }
  reader_thread(const reader_thread&) = delete;
  reader_thread& operator=(const reader_thread&) = delete;

  // Closes the write end, waits for EOF and returns every byte read.
  std::string close_and_join() {
    write_end_.reset();
    thread_.join();
    EXPECT_EQ(error_, 0) << "read: " << error_;
    return std::move(data_);
  }

 private:
  void run(int fd, std::size_t chunk) {
    std::vector<char> buf(chunk);
    for (;;) {
      const ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n > 0) {
        data_.append(buf.data(), static_cast<std::size_t>(n));
      } else if (n == 0) {
        return;
      } else if (errno != EINTR) {
        error_ = errno;
        return;
      }
    }
  }

  unique_fd& write_end_;
  std::string data_;
  int error_ = 0;
  std::thread thread_;  // last: starts once the fields above exist
};

// A thread that, if the test ends early, is unblocked by `unblock` and joined
// rather than left to std::terminate.
class scoped_thread {
 public:
  scoped_thread(std::function<void()> body, std::function<void()> unblock)
      : unblock_(std::move(unblock)), thread_(std::move(body)) {}
  ~scoped_thread() {
    if (thread_.joinable()) {
      unblock_();
      thread_.join();
    }
  }
  void join() { thread_.join(); }
  pthread_t native_handle() { return thread_.native_handle(); }

 private:
  std::function<void()> unblock_;
  std::thread thread_;
};

// Reads exactly `n` bytes (blocking).
inline std::string read_exactly(int fd, std::size_t n) {
  std::string out(n, '\0');
  std::size_t got = 0;
  while (got < n) {
    const ssize_t r = ::read(fd, out.data() + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      ADD_FAILURE() << "read returned " << r << " errno " << errno;
      break;
    }
    got += static_cast<std::size_t>(r);
  }
  out.resize(got);
  return out;
}

inline const_buffer as_buffer(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

// Spins (yielding) until `done()` or a generous guard passes; false on the
// guard, so a broken library fails the test instead of hanging it.
inline bool wait_until(const std::function<bool()>& done,
                       absl::Duration guard = absl::Seconds(60)) {
  const absl::Time deadline = absl::Now() + guard;
  while (!done()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

inline std::string payload_for(std::uint32_t i, std::size_t size) {
  std::string p(size, '\0');
  for (std::size_t k = 0; k < size; ++k) p[k] = static_cast<char>('a' + (i * 7 + k) % 26);
  return p;
}

// --- EINTR ---------------------------------------------------------------------

inline std::atomic<int> g_sigusr1_count{0};
inline void count_sigusr1(int) { g_sigusr1_count.fetch_add(1, std::memory_order_relaxed); }

// Installs count_sigusr1 for SIGUSR1 without SA_RESTART (so a blocked system
// call returns EINTR) for the life of the object; restores the old action.
struct sigusr1_handler {
  struct sigaction old {};
  sigusr1_handler() {
    struct sigaction sa {};
    sa.sa_handler = count_sigusr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART
    EXPECT_EQ(::sigaction(SIGUSR1, &sa, &old), 0);
  }
  ~sigusr1_handler() { ::sigaction(SIGUSR1, &old, nullptr); }
};

// The number of the system call thread `tid` is blocked in, or -1 when it is
// running (or /proc does not say).
inline long blocked_syscall(pid_t tid) {
  const std::string path = absl::StrCat("/proc/self/task/", tid, "/syscall");
  unique_fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (f.get() < 0) return -1;
  char buf[64] = {};
  if (::read(f.get(), buf, sizeof buf - 1) <= 0) return -1;
  if (buf[0] < '0' || buf[0] > '9') return -1;  // "running"
  return std::strtol(buf, nullptr, 10);
}

}  // namespace funnel::posix_test

#endif  // FUNNEL_TESTS_POSIX_TEST_UTIL_H_
