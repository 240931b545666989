// The writer thread over real fds when the peer misbehaves: a reader that
// never reads (close(deadline) and the destructor stop in bounded time,
// counting what was not written), a reader that resumes in time (everything
// written), an fd closed behind the writer's back (the sink's own fd goes on),
// and signals interrupting the writer thread's poll() on a blocking and a
// non-blocking socket (EINTR is retried, the stream stays intact).
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/options.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/posix_writev_sink.h"
#include "funnel/procwire/frame.h"
#include "gtest/gtest.h"
#include "tests/posix_test_util.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using namespace posix_test;  // NOLINT: the fd helpers
using testing_internal::decode_all;
using testing_internal::make_frame;

// A posix_writev_sink that tells the test which thread writes.
struct observed_sink {
  posix_writev_sink inner;
  std::shared_ptr<std::atomic<pid_t>> tid = std::make_shared<std::atomic<pid_t>>(0);
  std::shared_ptr<std::atomic<pthread_t>> thread = std::make_shared<std::atomic<pthread_t>>();
  void on_writer_thread_stop() { inner.on_writer_thread_stop(); }
  void on_writer_thread_start() {
    inner.on_writer_thread_start();
    thread->store(pthread_self());
    tid->store(static_cast<pid_t>(::syscall(SYS_gettid)));
  }
  absl::StatusOr<std::size_t> write(std::span<const const_buffer> b) { return inner.write(b); }
  void cancel() noexcept { inner.cancel(); }
};
using writer =
    basic_writer<mpsc_ring<outbound_frame>, observed_sink, condvar_backpressure, count_batcher>;

constexpr std::size_t kPayload = 64 * 1024;
constexpr int kFrames = 64;  // 4 MiB: far more than a socket or pipe buffers

writer_options never_give_up() {
  writer_options o;
  o.backpressure_timeout = absl::Hours(1);
  o.shutdown_timeout = absl::InfiniteDuration();
  return o;
}

void send_all(writer& w) {
  auto h = w.handle();
  for (int i = 0; i < kFrames; ++i) {
    ASSERT_TRUE(h.send(make_frame(i, payload_for(i, kPayload))).ok()) << i;
  }
}

void expect_deadline_failure(writer& w, absl::Status closed) {
  EXPECT_EQ(closed.code(), absl::StatusCode::kDeadlineExceeded) << closed;
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, static_cast<std::uint64_t>(kFrames));
  EXPECT_GT(st.frames_lost, 0u);
  EXPECT_EQ(st.frames_accepted, st.frames_written + st.frames_lost);
  EXPECT_NE(
      closed.message().find(absl::StrCat(st.frames_lost, " accepted frame(s) were not written")),
      std::string::npos)
      << closed;
}

TEST(PosixWriterDeadline, CloseOnASocketWhosePeerNeverReadsReturnsAtTheDeadline) {
  fd_pair p = make_socketpair();
  writer w(observed_sink{posix_writev_sink(p.write_end.get())}, never_give_up());
  send_all(w);
  const absl::Status closed = w.close(absl::Now() + absl::Milliseconds(200));
  expect_deadline_failure(w, closed);
  // cancel() did not shut the borrowed socket down (that is its owner's
  // call): the caller's fd can still send, or finds the buffer full; never
  // EPIPE.
  errno = 0;
  const ssize_t sent = ::send(p.write_end.get(), "x", 1, MSG_DONTWAIT | MSG_NOSIGNAL);
  EXPECT_TRUE(sent == 1 || errno == EAGAIN || errno == EWOULDBLOCK)
      << "send on the caller's fd after cancel: " << sent << ", errno " << errno;
  // The owner closes its fd (the sink released its own when its thread
  // stopped): the peer reads what was buffered, then EOF.
  p.write_end.reset();
  std::string got;
  char buf[65536];
  for (ssize_t n; (n = ::read(p.read_end.get(), buf, sizeof buf)) > 0;) got.append(buf, n);
  EXPECT_GE(got.size(), w.stats().frames_written * (kHeaderSize + kPayload));
  EXPECT_EQ(w.close().code(), absl::StatusCode::kDeadlineExceeded) << "the same status again";
}

TEST(PosixWriterDeadline, CloseOnAPipeWhoseReaderNeverReadsReturnsAtTheDeadline) {
  fd_pair p = make_pipe();
  writer w(observed_sink{posix_writev_sink(p.write_end.get())}, never_give_up());
  send_all(w);
  expect_deadline_failure(w, w.close(absl::Now() + absl::Milliseconds(200)));
}

TEST(PosixWriterDeadline, DestructorUsesTheShutdownTimeout) {
  fd_pair p = make_socketpair();
  writer_options o = never_give_up();
  o.shutdown_timeout = absl::Milliseconds(100);
  auto w = std::make_unique<writer>(observed_sink{posix_writev_sink(p.write_end.get())}, o);
  send_all(*w);
  auto h = w->handle();
  w.reset();  // would hang for ever without the timeout: the peer never reads
  EXPECT_EQ(h.send(make_frame(1, "late")).code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(PosixWriterDeadline, AReaderThatResumesInTimeGetsEverythingAndCloseIsOk) {
  for (bool socket : {true, false}) {
    fd_pair p = socket ? make_socketpair() : make_pipe();
    observed_sink sink{posix_writev_sink(p.write_end.get())};
    const auto tid = sink.tid;
    writer w(std::move(sink), never_give_up());
    send_all(w);
    // The writer is stuck on a full buffer (blocked in a system call); the
    // reader starts only then. (EXPECT: the reader must run, or close hangs.)
    EXPECT_TRUE(wait_until([&] { return tid->load() != 0 && blocked_syscall(tid->load()) >= 0; }));
    reader_thread reader(p.read_end.get(), p.write_end);
    const absl::Status closed = w.close(absl::Now() + absl::Seconds(60));
    EXPECT_TRUE(closed.ok()) << closed;
    EXPECT_EQ(::fcntl(p.write_end.get(), F_GETFL) & O_NONBLOCK, 0)
        << "the sink never changes the borrowed fd's flags";
    EXPECT_EQ(decode_all(reader.close_and_join()).size(), static_cast<std::size_t>(kFrames));
    EXPECT_EQ(w.stats().frames_lost, 0u);
  }
}

TEST(PosixWriterDeadline, FlushWithADeadlineReportsAndTheWriterGoesOn) {
  fd_pair p = make_socketpair();
  writer w(observed_sink{posix_writev_sink(p.write_end.get())}, never_give_up());
  send_all(w);
  const absl::Status flushed = w.flush(absl::Now() + absl::Milliseconds(100));
  EXPECT_EQ(flushed.code(), absl::StatusCode::kDeadlineExceeded) << flushed;
  EXPECT_TRUE(w.status().ok()) << "a flush deadline does not stop the writer";
  reader_thread reader(p.read_end.get(), p.write_end);
  EXPECT_TRUE(w.flush().ok());
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(decode_all(reader.close_and_join()).size(), static_cast<std::size_t>(kFrames));
}

// The caller closes the fd under a running writer (a bug, but it must not
// take the process down or lose frames): the sink writes through an fd of
// its own, taken at construction, so every frame still reaches the pipe.
// (tests/posix_sink_fd_test.cc: the same with the number reused by open().)
TEST(PosixWriterMisuse, FdClosedUnderTheWriterStillDeliversEveryFrame) {
  fd_pair p = make_pipe();
  const int fd = ::dup(p.write_end.get());
  ASSERT_GE(fd, 0);
  reader_thread reader(p.read_end.get(), p.write_end);
  writer w(observed_sink{posix_writev_sink(fd)}, never_give_up());
  ASSERT_TRUE(w.handle().send(make_frame(0, "before")).ok());
  ASSERT_TRUE(w.flush().ok());
  ASSERT_EQ(::close(fd), 0);
  for (int i = 1; i <= kFrames; ++i) {
    ASSERT_TRUE(w.handle().send(make_frame(i, payload_for(i, kPayload))).ok()) << i;
  }
  const absl::Status closed = w.close();
  EXPECT_TRUE(closed.ok()) << closed;
  const std::vector<decoded_frame> frames = decode_all(reader.close_and_join());
  ASSERT_EQ(frames.size(), static_cast<std::size_t>(kFrames) + 1);
  EXPECT_EQ(frames[0].payload.as_string_view(), "before");
  for (int i = 1; i <= kFrames; ++i) {
    ASSERT_EQ(frames[i].payload.as_string_view(), payload_for(i, kPayload)) << i;
  }
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_written, static_cast<std::uint64_t>(kFrames) + 1);
  EXPECT_EQ(st.frames_lost, 0u);
}

// --- EINTR on the writer thread ---------------------------------------------

// Interrupts the writer thread three times while it is blocked in one of
// `syscalls`, each time waiting until it is blocked there again (retried).
void interrupt_three_times(std::atomic<pid_t>& tid, std::atomic<pthread_t>& thread,
                           std::vector<long> syscalls) {
  auto blocked_in_one = [&] {
    const long nr = blocked_syscall(tid.load());
    for (long s : syscalls) {
      if (nr == s) return true;
    }
    return false;
  };
  ASSERT_TRUE(wait_until([&] { return tid.load() != 0; }));
  g_sigusr1_count.store(0);
  for (int k = 1; k <= 3; ++k) {
    ASSERT_TRUE(wait_until(blocked_in_one)) << "the writer thread never blocked there";
    ASSERT_EQ(pthread_kill(thread.load(), SIGUSR1), 0);
    ASSERT_TRUE(wait_until([&] { return g_sigusr1_count.load() == k; }));
  }
  ASSERT_TRUE(wait_until(blocked_in_one)) << "the interrupted call was not retried";
}

void eintr_through_the_writer(bool nonblocking, std::vector<long> syscalls) {
  if (::access(absl::StrCat("/proc/self/task/", ::syscall(SYS_gettid), "/syscall").c_str(), R_OK) !=
      0) {
    GTEST_SKIP() << "/proc/<pid>/task/<tid>/syscall is not readable here";
  }
  sigusr1_handler handler;
  fd_pair p = make_socketpair();
  if (nonblocking) set_nonblocking(p.write_end.get(), true);
  const int flags = ::fcntl(p.write_end.get(), F_GETFL);
  observed_sink sink{posix_writev_sink(p.write_end.get())};
  const auto tid = sink.tid;
  const auto thread = sink.thread;
  writer w(std::move(sink), never_give_up());
  send_all(w);
  interrupt_three_times(*tid, *thread, syscalls);
  EXPECT_TRUE(w.status().ok()) << w.status();
  EXPECT_EQ(::fcntl(p.write_end.get(), F_GETFL), flags) << "the caller's flags are untouched";
  reader_thread reader(p.read_end.get(), p.write_end);
  EXPECT_TRUE(w.close().ok());
  const std::vector<decoded_frame> frames = decode_all(reader.close_and_join());
  ASSERT_EQ(frames.size(), static_cast<std::size_t>(kFrames));
  for (int i = 0; i < kFrames; ++i) {
    ASSERT_EQ(frames[i].payload.as_string_view(), payload_for(i, kPayload)) << i;
  }
}

// The sink's sendmsg is non-blocking per call (MSG_DONTWAIT) whatever the
// socket's flags, so on a full socket the writer thread waits in poll(),
// blocking socket or not.
#ifdef SYS_poll
const std::vector<long> kPollCalls = {SYS_poll, SYS_ppoll};
#else
const std::vector<long> kPollCalls = {SYS_ppoll};
#endif

TEST(PosixWriterEintr, PollOnABlockingSocketIsRetried) {
  eintr_through_the_writer(/*nonblocking=*/false, kPollCalls);
}

TEST(PosixWriterEintr, PollOnANonBlockingSocketIsRetried) {
  eintr_through_the_writer(/*nonblocking=*/true, kPollCalls);
}

}  // namespace
}  // namespace funnel
