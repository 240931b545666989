// funnel/testing/fault_writev.h: testing a custom fd sink's own EINTR / EAGAIN
// handling, with the system call injected below the sink. The sink here is
// the kind a downstream team writes: its writev is a template parameter.
// The blocks between `// [name]` markers are quoted in docs/testing.md.
#include "funnel/testing/fault_writev.h"

#include <errno.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "funnel/basic_writer.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/testing/frames.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::funnel::const_buffer;
using ::funnel::testing::fd_fault;
using ::funnel::testing::scripted_writev;
using ::funnel::testing::test_frame;
using ::funnel::testing::wire_bytes;
using ::testing::HasSubstr;

// [careful-sink]
struct real_writev {
  ssize_t operator()(int fd, const iovec* iov, int n) const { return ::writev(fd, iov, n); }
};

// A custom sink done right: retries EINTR, waits for POLLOUT on EAGAIN.
template <class Writev = real_writev>
class careful_fd_sink {
 public:
  careful_fd_sink(int fd, Writev writev) : fd_(fd), writev_(writev) {}

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    iov_.clear();
    for (const const_buffer& b : buffers) iov_.push_back({const_cast<std::byte*>(b.data), b.size});
    for (;;) {
      const ssize_t n = writev_(fd_, iov_.data(), static_cast<int>(iov_.size()));
      if (n >= 0) return static_cast<std::size_t>(n);
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) {
        pollfd p{fd_, POLLOUT, 0};
        if (::poll(&p, 1, -1) < 0 && errno != EINTR) {
          return absl::ErrnoToStatus(errno, "poll");
        }
        continue;
      }
      return absl::ErrnoToStatus(err, absl::StrCat("writev to fd ", fd_));
    }
  }

 private:
  int fd_;
  Writev writev_;
  std::vector<iovec> iov_;
};

// [careful-sink]

// The classic bug: every -1 is fatal.
template <class Writev = real_writev>
class naive_fd_sink {
 public:
  naive_fd_sink(int fd, Writev writev) : fd_(fd), writev_(writev) {}

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    std::vector<iovec> iov;
    for (const const_buffer& b : buffers) iov.push_back({const_cast<std::byte*>(b.data), b.size});
    const ssize_t n = writev_(fd_, iov.data(), static_cast<int>(iov.size()));
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat("writev to fd ", fd_));
    return static_cast<std::size_t>(n);
  }

 private:
  int fd_;
  Writev writev_;
};

template <class Sink>
using writer_over = funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, Sink,
                                         funnel::sleep_backpressure, funnel::count_batcher>;

// A pipe; the test's data stays far below its capacity, so the read end is
// read after the writer is closed.
class Pipe : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::pipe(fds_), 0) << errno; }
  void TearDown() override {
    if (fds_[0] >= 0) ::close(fds_[0]);
    if (fds_[1] >= 0) ::close(fds_[1]);
  }
  int write_end() const { return fds_[1]; }
  // Closes the write end and returns everything written to the pipe.
  std::string drain() {
    ::close(fds_[1]);
    fds_[1] = -1;
    std::string out;
    char buf[4096];
    for (;;) {
      const ssize_t n = ::read(fds_[0], buf, sizeof buf);
      if (n > 0) {
        out.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        break;
      }
    }
    return out;
  }

  int fds_[2] = {-1, -1};
};

// [scripted-writev]
TEST_F(Pipe, CarefulSinkRidesOutEintrEagainAndShortWrites) {
  scripted_writev writev({fd_fault::eintr(), fd_fault::eagain(), fd_fault::short_write(3),
                          fd_fault::eintr(), fd_fault::short_write(1), fd_fault::eagain()});
  auto calls = writev.state();
  writer_over<careful_fd_sink<scripted_writev>> w(
      careful_fd_sink<scripted_writev>(write_end(), writev));
  auto h = w.handle();
  std::string expected;
  for (std::uint32_t i = 0; i < 5; ++i) {
    const funnel::outbound_frame f = test_frame(1, i, std::string(i * 7, 'p'));
    expected += wire_bytes(f);
    ASSERT_TRUE(h.send(f).ok());
  }
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(drain(), expected);
  EXPECT_EQ(calls->eintr(), 2u);
  EXPECT_EQ(calls->eagain(), 2u);
  EXPECT_EQ(calls->script_remaining(), 0u);
  EXPECT_EQ(calls->bytes_written(), expected.size());
  // The writer saw the two short writes, never EINTR or EAGAIN.
  EXPECT_GE(w.stats().partial_writes, 2u);
}

// [scripted-writev]

TEST_F(Pipe, NaiveSinkIsCaughtByASingleEintr) {
  scripted_writev writev({fd_fault::eintr()});
  writer_over<naive_fd_sink<scripted_writev>> w(
      naive_fd_sink<scripted_writev>(write_end(), writev));
  ASSERT_TRUE(w.handle().send(test_frame(1, 1, "x")).ok());
  const absl::Status closed = w.close();
  EXPECT_FALSE(closed.ok());
  EXPECT_THAT(closed.message(), HasSubstr("Interrupted system call"));
  EXPECT_EQ(w.stats().frames_lost, 1u);
  EXPECT_EQ(drain(), "");
}

TEST_F(Pipe, InjectedErrnoBecomesTheWritersFailure) {
  scripted_writev writev({fd_fault::short_write(4), fd_fault::error(EPIPE)});
  auto calls = writev.state();
  writer_over<careful_fd_sink<scripted_writev>> w(
      careful_fd_sink<scripted_writev>(write_end(), writev));
  ASSERT_TRUE(w.handle().send(test_frame(1, 1, "hello")).ok());
  const absl::Status closed = w.close();
  EXPECT_THAT(closed.message(), HasSubstr("Broken pipe"));
  EXPECT_EQ(calls->other_errors(), 1u);
  EXPECT_EQ(drain(), wire_bytes(test_frame(1, 1, "hello")).substr(0, 4));
}

}  // namespace
