// posix_writev_sink's fd of its own, through real fds of every kind: a pty
// (a tty) and a FIFO whose reader never reads (close(deadline) returns), a
// pty that is read (byte-identical), a pipe shared with other writers (their
// flags and blocking writes untouched), an fd number closed and reused behind
// the writer's back (no frame lands in the new file), running out of fds at
// construction (status() names it, the writer returns it), write_timeout on
// blocking fds, and a pty master (refused unless interruptible_pipes = false).
// Every test that could hang on a broken sink runs under a watchdog.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>  // getenv
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/options.h"
#include "funnel/policies/sink/posix_writev_sink.h"
#include "funnel/presets.h"
#include "funnel/procwire/frame.h"
#include "gtest/gtest.h"
#include "tests/posix_test_util.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using namespace posix_test;  // NOLINT: the fd helpers
using testing_internal::decode_all;
using testing_internal::make_frame;
using testing_internal::wire_bytes;

constexpr std::size_t kPayload = 4096;
constexpr std::uint32_t kFrames = 256;  // 1 MiB: far more than a pty or pipe holds

bool contains(const absl::Status& s, absl::string_view text) {
  return s.message().find(text) != absl::string_view::npos;
}

std::string temp_path(absl::string_view name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  return absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name, ".", ::getpid());
}

writer_options patient() {
  writer_options o;
  o.max_pending_frames = 1024;
  o.backpressure_timeout = absl::Hours(1);  // only the sink or close() may give up
  o.shutdown_timeout = absl::InfiniteDuration();
  return o;
}

// A writer on `fd` whose reader never reads: close(now + 300ms) returns
// DeadlineExceeded (it returns at all: the point), and every accepted frame
// is counted written or lost.
void expect_bounded_close(int fd, absl::string_view what) {
  watchdog guard(absl::StrCat("close(deadline) on ", what));
  procwire_writer w(posix_writev_sink(fd), patient());
  ASSERT_TRUE(w.status().ok()) << w.status();
  auto h = w.handle();
  for (std::uint32_t i = 0; i < kFrames; ++i) {
    ASSERT_TRUE(h.send(make_frame(i, payload_for(i, kPayload))).ok()) << i;
  }
  const absl::Time start = absl::Now();
  const absl::Status closed = w.close(absl::Now() + absl::Milliseconds(300));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "generous: it must merely return";
  EXPECT_EQ(closed.code(), absl::StatusCode::kDeadlineExceeded) << closed;
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, kFrames);
  EXPECT_GT(st.frames_lost, 0u) << "the reader never read: not everything fit";
  EXPECT_EQ(st.frames_accepted, st.frames_written + st.frames_lost);
}

// --- ttys and FIFOs whose reader never reads --------------------------------

TEST(PosixSinkTty, CloseOnAPtyWhoseMasterNeverReadsReturnsAtTheDeadline) {
  pty_pair t;
  if (const std::string why = open_pty(t); !why.empty()) GTEST_SKIP() << why;
  const int flags = ::fcntl(t.slave.get(), F_GETFL);
  ASSERT_EQ(flags & O_NONBLOCK, 0) << "a blocking tty, as a terminal's stdout is";
  expect_bounded_close(t.slave.get(), "a pty nobody reads");
  EXPECT_EQ(::fcntl(t.slave.get(), F_GETFL), flags) << "the tty's flags are untouched";
}

TEST(PosixSinkTty, EveryFrameArrivesByteIdenticalThroughAPtyThatIsRead) {
  pty_pair t;
  if (const std::string why = open_pty(t); !why.empty()) GTEST_SKIP() << why;
  watchdog guard("a pty round trip");
  std::string expected;
  for (std::uint32_t i = 0; i < 500; ++i) expected += wire_bytes(i, payload_for(i, i % 301));
  // Reads until it has every byte, or the pty is hung up (EIO once every
  // slave fd is closed: after close() and t.slave.reset() below).
  std::string got;
  std::thread reader([&] {
    char buf[4096];
    while (got.size() < expected.size()) {
      const ssize_t n = ::read(t.master.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      got.append(buf, static_cast<std::size_t>(n));
    }
  });
  procwire_writer w(posix_writev_sink(t.slave.get()), patient());
  auto h = w.handle();
  for (std::uint32_t i = 0; i < 500; ++i) {
    ASSERT_TRUE(h.send(make_frame(i, payload_for(i, i % 301))).ok()) << i;
  }
  const absl::Status closed = w.close();
  t.slave.reset();
  reader.join();
  EXPECT_TRUE(closed.ok()) << closed;
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "the tty changed the bytes";
  EXPECT_EQ(decode_all(got).size(), 500u);
}

TEST(PosixSinkFifo, CloseOnAFifoOpenedByPathWhoseReaderNeverReadsReturnsAtTheDeadline) {
  const std::string path = temp_path("fifo_never_read");
  ::unlink(path.c_str());
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0) << "mkfifo: " << errno;
  unique_fd reader(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_GE(reader.get(), 0) << errno;
  unique_fd fifo(::open(path.c_str(), O_WRONLY | O_CLOEXEC));  // blocking, as a shell opens it
  ASSERT_GE(fifo.get(), 0) << errno;
  ::unlink(path.c_str());
  expect_bounded_close(fifo.get(), "a FIFO nobody reads");
  EXPECT_EQ(::fcntl(fifo.get(), F_GETFL) & O_NONBLOCK, 0);
}

// A FIFO whose reader left before the sink was built cannot be reopened
// (ENXIO): the sink writes through a dup, and writes fail with EPIPE at once.
TEST(PosixSinkFifo, AFifoWhoseReaderIsGoneFailsWithBrokenPipe) {
  const std::string path = temp_path("fifo_reader_gone");
  ::unlink(path.c_str());
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0) << "mkfifo: " << errno;
  unique_fd reader(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  ASSERT_GE(reader.get(), 0) << errno;
  unique_fd fifo(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  ASSERT_GE(fifo.get(), 0) << errno;
  ::unlink(path.c_str());
  reader.reset();
  posix_writev_sink sink(fifo.get());
  ASSERT_TRUE(sink.status().ok()) << sink.status();
  const std::string msg = "nobody listens";
  const const_buffer b = as_buffer(msg);
  absl::StatusOr<std::size_t> n = sink.write(std::span(&b, 1));
  ASSERT_FALSE(n.ok());
  EXPECT_TRUE(contains(n.status(), absl::StrCat("writev to fd ", fifo.get(), ": Broken pipe")))
      << n.status();
}

// --- other writers of the same pipe -------------------------------------------

// The writer floods a pipe a slow reader drains; another writer of the same
// pipe (a dup of its write end: `2>&1`, a parent shell) keeps its blocking
// description: no O_NONBLOCK appears on it, and none of its write()s fails
// with EAGAIN. After close() the fd's flags are exactly as before.
TEST(PosixSinkSharedDescription, OtherWritersOfThePipeKeepTheirFlagsAndBlockingWrites) {
  constexpr int kOtherWrites = 200;
  constexpr std::size_t kChunk = 512;  // <= PIPE_BUF: atomic, never split
  fd_pair p = make_pipe();
  unique_fd other(::dup(p.write_end.get()));
  ASSERT_GE(other.get(), 0);
  const int flags_before = ::fcntl(p.write_end.get(), F_GETFL);
  ASSERT_EQ(flags_before & O_NONBLOCK, 0);
  watchdog guard("a pipe shared with another writer");
  reader_thread reader(p.read_end.get(), p.write_end, /*chunk=*/1024);
  procwire_writer w(posix_writev_sink(p.write_end.get()), patient());
  auto h = w.handle();
  std::size_t writer_bytes = 0;
  ASSERT_TRUE(h.send(make_frame(0, "started")).ok());
  writer_bytes += wire_bytes(0, "started").size();
  ASSERT_TRUE(w.flush().ok()) << "the writer thread runs and has written";
  EXPECT_EQ(::fcntl(other.get(), F_GETFL) & O_NONBLOCK, 0) << "the shared description changed";

  std::thread producer([&] {
    for (std::uint32_t i = 1; i < kFrames; ++i) {
      ASSERT_TRUE(h.send(make_frame(i, payload_for(i, kPayload))).ok()) << i;
    }
  });
  for (std::uint32_t i = 1; i < kFrames; ++i) writer_bytes += kHeaderSize + kPayload;
  const std::string chunk(kChunk, 'o');
  int failed = 0, first_errno = 0;
  for (int k = 0; k < kOtherWrites; ++k) {
    const ssize_t n = ::write(other.get(), chunk.data(), chunk.size());
    if (n != static_cast<ssize_t>(chunk.size())) {
      ++failed;
      if (first_errno == 0) first_errno = errno;
    }
  }
  EXPECT_EQ(failed, 0) << failed << " of " << kOtherWrites
                       << " blocking writes of the other writer failed, first errno "
                       << first_errno;
  producer.join();
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(::fcntl(p.write_end.get(), F_GETFL), flags_before) << "flags changed";
  EXPECT_EQ(::fcntl(other.get(), F_GETFL), flags_before) << "flags changed";
  other.reset();
  EXPECT_EQ(reader.close_and_join().size(), writer_bytes + (kOtherWrites - failed) * kChunk);
}

// --- an fd closed and reused behind the writer's back ------------------------------

TEST(PosixSinkFdReuse, FramesGoToThePipeNotToTheFileThatReusedTheFdNumber) {
  fd_pair p = make_pipe();
  const int number = p.write_end.get();
  watchdog guard("frames after the fd number was reused");
  procwire_writer w(posix_writev_sink(number), patient());
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(0, "before")).ok());
  ASSERT_TRUE(w.flush().ok());
  // The caller's bug: it closes the number the writer borrows, and the
  // next open() gets the same number.
  ASSERT_EQ(::close(p.write_end.release()), 0);
  const std::string path = temp_path("reused_fd");
  unique_fd file(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  ASSERT_GE(file.get(), 0) << errno;
  ::unlink(path.c_str());
  if (file.get() != number) GTEST_SKIP() << "open() did not reuse fd " << number;
  const int file_flags = ::fcntl(file.get(), F_GETFL);

  std::string expected = wire_bytes(0, "before");
  for (std::uint32_t i = 1; i <= 100; ++i) {
    expected += wire_bytes(i, payload_for(i, 100));
    ASSERT_TRUE(h.send(make_frame(i, payload_for(i, 100))).ok()) << i;
  }
  const absl::Status closed = w.close();
  EXPECT_TRUE(closed.ok()) << closed;
  // The pipe's last write end was the sink's own, released when the writer
  // thread stopped: the reader reads every frame, then EOF.
  std::string got;
  char buf[65536];
  for (ssize_t n; (n = ::read(p.read_end.get(), buf, sizeof buf)) > 0;) got.append(buf, n);
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "the pipe's stream differs";
  struct stat st;
  ASSERT_EQ(::fstat(file.get(), &st), 0);
  EXPECT_EQ(st.st_size, 0) << "frames landed in the file that reused the number";
  EXPECT_EQ(::fcntl(file.get(), F_GETFL), file_flags) << "the sink changed the file's flags";
}

// --- out of fds at construction ------------------------------------------------------

// Lowers RLIMIT_NOFILE to a little above the highest fd in use and fills
// every free slot below it, then frees `free_slots` of them. Everything is
// undone by the destructor, whatever the test does.
class fd_table_filled {
 public:
  explicit fd_table_filled(int free_slots) {
    EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &old_), 0);
    probe_ = unique_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    EXPECT_GE(probe_.get(), 0);
    int highest = probe_.get();
    for (int fd = 0; fd < 4096; ++fd) {
      if (fd_is_open(fd)) highest = fd;
    }
    rlimit lowered = old_;
    lowered.rlim_cur = static_cast<rlim_t>(highest) + 16;
    if (lowered.rlim_cur >= old_.rlim_cur) return;  // nothing to lower (unlikely)
    EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0) << errno;
    lowered_ = true;
    for (;;) {
      const int fd = ::dup(probe_.get());
      if (fd < 0) {
        EXPECT_EQ(errno, EMFILE);
        break;
      }
      fillers_.push_back(fd);
    }
    for (int k = 0; k < free_slots && !fillers_.empty(); ++k) {
      ::close(fillers_.back());
      fillers_.pop_back();
    }
  }
  ~fd_table_filled() { restore(); }
  fd_table_filled(const fd_table_filled&) = delete;
  fd_table_filled& operator=(const fd_table_filled&) = delete;

  bool ok() const { return lowered_; }
  void restore() {
    for (int fd : fillers_) ::close(fd);
    fillers_.clear();
    if (lowered_) ::setrlimit(RLIMIT_NOFILE, &old_);
    lowered_ = false;
    probe_.reset();
  }

 private:
  rlimit old_{};
  unique_fd probe_;  // what the fillers are dups of
  bool lowered_ = false;
  std::vector<int> fillers_;
};

// Builds a sink on `fd` with `free_slots` fds left, then (limit restored)
// a writer on it: the writer returns the sink's status from send, flush and
// close, promptly. Returns the sink's status.
absl::Status sink_built_short_of_fds(int fd, int free_slots) {
  std::optional<posix_writev_sink> sink;
  {
    fd_table_filled table(free_slots);
    if (!table.ok()) return absl::UnknownError("could not lower RLIMIT_NOFILE");
    sink.emplace(fd);
  }
  const absl::Status status = sink->status();
  if (status.ok()) return status;
  watchdog guard("a writer on a sink that failed its set-up");
  procwire_writer w(std::move(*sink), patient());
  EXPECT_EQ(w.handle().send(make_frame(1, "x")), status);
  EXPECT_EQ(w.flush(), status);
  EXPECT_EQ(w.close(), status);
  EXPECT_EQ(w.stats().frames_accepted, 0u);
  return status;
}

TEST(PosixSinkSetUp, NoFdLeftForItsOwnFdIsReportedAndFailsTheWriter) {
  for (bool socket : {false, true}) {
    SCOPED_TRACE(socket ? "socket" : "pipe");
    fd_pair p = socket ? make_socketpair() : make_pipe();
    const absl::Status s = sink_built_short_of_fds(p.write_end.get(), 0);
    ASSERT_NE(s.code(), absl::StatusCode::kUnknown) << s;
    EXPECT_FALSE(s.ok());
    EXPECT_TRUE(contains(s, "Too many open files")) << s;
    EXPECT_TRUE(contains(s, absl::StrCat("fd ", p.write_end.get()))) << s;
  }
}

TEST(PosixSinkSetUp, NoFdLeftForTheWakePipeIsReportedAndFailsTheWriter) {
  fd_pair p = make_pipe();
  for (int free_slots : {1, 2}) {  // its own fd fits; a pipe needs two more
    SCOPED_TRACE(absl::StrCat(free_slots, " free fd slot(s)"));
    const absl::Status s = sink_built_short_of_fds(p.write_end.get(), free_slots);
    ASSERT_NE(s.code(), absl::StatusCode::kUnknown) << s;
    EXPECT_FALSE(s.ok());
    EXPECT_TRUE(contains(s, "wake pipe")) << s;
    EXPECT_TRUE(contains(s, "Too many open files")) << s;
  }
  // Three free slots are all it needs.
  fd_table_filled table(3);
  ASSERT_TRUE(table.ok());
  posix_writev_sink sink(p.write_end.get());
  table.restore();
  EXPECT_TRUE(sink.status().ok()) << sink.status();
}

// --- write_timeout on blocking fds -------------------------------------------------------

// A writer with write_timeout = 50ms on a blocking `fd` nobody reads: the
// writer fails with DeadlineExceeded naming the fd and the timeout.
void expect_write_timeout(int fd, absl::string_view what) {
  watchdog guard(absl::StrCat("write_timeout on ", what));
  ASSERT_EQ(::fcntl(fd, F_GETFL) & O_NONBLOCK, 0) << "the point: a blocking fd";
  posix_writev_sink::options so;
  so.write_timeout = absl::Milliseconds(50);
  procwire_writer w(posix_writev_sink(fd, so), patient());
  auto h = w.handle();
  absl::Status failure;
  std::uint64_t accepted = 0;
  for (std::uint32_t i = 0; i < 100000 && failure.ok(); ++i) {
    failure = h.send(make_frame(i, payload_for(i, 1000)));
    if (failure.ok()) ++accepted;
  }
  ASSERT_FALSE(failure.ok()) << "the writer never failed";
  EXPECT_TRUE(contains(failure, absl::StatusCodeToString(absl::StatusCode::kDeadlineExceeded)) ||
              failure.code() == absl::StatusCode::kDeadlineExceeded)
      << failure;
  EXPECT_TRUE(contains(failure, absl::StrCat("fd ", fd, " not writable within 50ms"))) << failure;
  const absl::Status closed = w.close();
  EXPECT_EQ(closed.code(), failure.code()) << closed;
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, accepted);
  EXPECT_GE(st.frames_lost, 1u);
  EXPECT_EQ(st.frames_accepted, st.frames_written + st.frames_lost);
}

TEST(PosixSinkWriteTimeout, BlockingSocketNobodyReads) {
  fd_pair s = make_socketpair();
  expect_write_timeout(s.write_end.get(), "a blocking socket");
}

TEST(PosixSinkWriteTimeout, BlockingPipeNobodyReads) {
  fd_pair p = make_pipe();
  expect_write_timeout(p.write_end.get(), "a blocking pipe");
}

TEST(PosixSinkWriteTimeout, BlockingPtyNobodyReads) {
  pty_pair t;
  if (const std::string why = open_pty(t); !why.empty()) GTEST_SKIP() << why;
  expect_write_timeout(t.slave.get(), "a blocking pty");
}

// --- a pty master: refused by default ------------------------------------------------------

TEST(PosixSinkRefusal, APtyMasterIsRefusedUnlessInterruptiblePipesIsFalse) {
  pty_pair t;
  if (const std::string why = open_pty(t); !why.empty()) GTEST_SKIP() << why;
  const int master = t.master.get();
  {
    posix_writev_sink sink(master);
    const absl::Status s = sink.status();
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_TRUE(contains(s, absl::StrCat("fd ", master, " "))) << s;
    EXPECT_TRUE(contains(s, "pty master")) << s;
    EXPECT_TRUE(contains(s, "interruptible_pipes = false")) << s;
    procwire_writer w(std::move(sink));
    EXPECT_EQ(w.handle().send(make_frame(1, "x")), s);
    EXPECT_EQ(w.close(), s);
  }
  // Blocking, through a plain dup of the master: the bytes reach this pty's
  // slave (a reopened master would have made a new pty).
  posix_writev_sink sink(master, {.interruptible_pipes = false});
  ASSERT_TRUE(sink.status().ok()) << sink.status();
  const std::string msg = "to the slave";
  const const_buffer b = as_buffer(msg);
  absl::StatusOr<std::size_t> n = sink.write(std::span(&b, 1));
  ASSERT_TRUE(n.ok()) << n.status();
  ASSERT_EQ(*n, msg.size());
  EXPECT_EQ(read_exactly(t.slave.get(), msg.size()), msg);
}

}  // namespace
}  // namespace funnel
