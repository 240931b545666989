// posix_writev_sink and procwire_writer through real file descriptors:
// pipes, AF_UNIX socket pairs and regular files; a closed reader (EPIPE,
// never a SIGPIPE death), non-blocking fds (EAGAIN, partial writes, the write
// timeout), gather lists longer than IOV_MAX, and EINTR.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>  // IOV_MAX
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>  // mkstemp, getenv
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
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
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/posix_writev_sink.h"
#include "funnel/presets.h"
#include "funnel/procwire/frame.h"
#include "gtest/gtest.h"
#include "tests/posix_test_util.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing_internal::decode_all;
using testing_internal::gate;
using testing_internal::make_frame;
using testing_internal::wire_bytes;
using namespace posix_test;  // NOLINT: the fd helpers

// --- signals -----------------------------------------------------------------

bool sigpipe_pending() {
  sigset_t pending;
  sigemptyset(&pending);
  EXPECT_EQ(sigpending(&pending), 0);
  return sigismember(&pending, SIGPIPE) == 1;
}

sigset_t current_mask() {
  sigset_t mask;
  sigemptyset(&mask);
  EXPECT_EQ(pthread_sigmask(SIG_BLOCK, nullptr, &mask), 0);
  return mask;
}

bool same_mask(const sigset_t& a, const sigset_t& b) {
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sigismember(&a, sig) != sigismember(&b, sig)) return false;
  }
  return true;
}

// Makes SIGPIPE deadly for the duration of a test: default disposition
// (terminate) and not blocked in this thread, so threads started from here
// inherit an unblocked SIGPIPE. A test that lets a SIGPIPE through dies.
class deadly_sigpipe {
 public:
  deadly_sigpipe() {
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    EXPECT_EQ(::sigaction(SIGPIPE, &dfl, &old_action_), 0);
    sigset_t pipe_only;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    EXPECT_EQ(pthread_sigmask(SIG_UNBLOCK, &pipe_only, &old_mask_), 0);
    EXPECT_FALSE(sigpipe_pending());
  }
  ~deadly_sigpipe() {
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
    ::sigaction(SIGPIPE, &old_action_, nullptr);
  }
  deadly_sigpipe(const deadly_sigpipe&) = delete;
  deadly_sigpipe& operator=(const deadly_sigpipe&) = delete;

 private:
  struct sigaction old_action_ {};
  sigset_t old_mask_;
};

// --- a posix sink the test can hold inside its first write --------------------

// Wraps posix_writev_sink: every write() first passes a gate (so the test can
// hold the writer thread inside its first write), and checks that the inner
// sink never takes more bytes than the first IOV_MAX ranges hold.
struct gated_posix_sink {
  struct record {  // written by the writer thread; read after close() joins it
    std::size_t max_ranges_offered = 0;
    std::size_t calls = 0;
    std::size_t over_iov_max = 0;  // calls that took more than IOV_MAX ranges hold
  };
  posix_writev_sink inner;
  std::shared_ptr<gate> g = std::make_shared<gate>();
  std::shared_ptr<record> rec = std::make_shared<record>();

  // A wrapper forwards the hooks: on_writer_thread_stop releases the inner
  // sink's own fd (the reader's EOF), cancel() makes close(deadline) bounded.
  void on_writer_thread_start() { inner.on_writer_thread_start(); }
  void on_writer_thread_stop() { inner.on_writer_thread_stop(); }
  void cancel() noexcept { inner.cancel(); }

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    g->arrive();
    g->wait_open();
    ++rec->calls;
    rec->max_ranges_offered = std::max(rec->max_ranges_offered, buffers.size());
    const std::size_t limit =
        total_size(buffers.first(std::min<std::size_t>(buffers.size(), IOV_MAX)));
    absl::StatusOr<std::size_t> n = inner.write(buffers);
    if (n.ok() && *n > limit) ++rec->over_iov_max;
    return n;
  }
};
using gated_posix_writer =
    basic_writer<mpsc_ring<outbound_frame>, gated_posix_sink, sleep_backpressure, count_batcher>;

// --- round trips ---------------------------------------------------------------

// Seed: test_writer_handle_send, through a real pipe.
TEST(PosixSink, SendThenReadBackFromARealPipe) {
  fd_pair p = make_pipe();
  procwire_writer w(posix_writev_sink(p.write_end.get()));
  ASSERT_TRUE(w.handle().send(make_frame(42, "hello")).ok());
  ASSERT_TRUE(w.close().ok());
  p.write_end.reset();  // borrowed: the writer did not close it
  EXPECT_EQ(read_exactly(p.read_end.get(), kHeaderSize + 5), wire_bytes(42, "hello"));
  char extra;
  EXPECT_EQ(::read(p.read_end.get(), &extra, 1), 0) << "nothing after the frame";
  EXPECT_EQ(w.stats().frames_written, 1u);
  EXPECT_EQ(w.stats().bytes_written, kHeaderSize + 5);
}

// Many frames, more than a pipe holds, read concurrently.
TEST(PosixSink, ManyFramesThroughAPipeArriveByteForByte) {
  fd_pair p = make_pipe();
  reader_thread reader(p.read_end.get(), p.write_end);
  std::string expected;
  procwire_writer w(posix_writev_sink(p.write_end.get()));
  auto h = w.handle();
  for (std::uint32_t i = 0; i < 1500; ++i) {
    const std::string payload = payload_for(i, i % 301);
    expected += wire_bytes(i, payload);
    ASSERT_TRUE(h.send(make_frame(i, payload)).ok()) << i;
  }
  ASSERT_TRUE(w.close().ok());
  const std::string got = reader.close_and_join();
  EXPECT_GT(expected.size(), 65536u) << "more than a default pipe buffer";
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "stream differs";
  EXPECT_EQ(w.stats().bytes_written, expected.size());
}

TEST(PosixSink, SocketPairCarriesTheExactBytes) {
  fd_pair s = make_socketpair();
  reader_thread reader(s.read_end.get(), s.write_end);
  std::string expected;
  procwire_writer w(posix_writev_sink(s.write_end.get()));
  auto h = w.handle();
  for (std::uint32_t i = 0; i < 1500; ++i) {
    const std::string payload = payload_for(i, (i * 13) % 301);
    expected += wire_bytes(i, payload);
    ASSERT_TRUE(h.send(make_frame(i, payload)).ok()) << i;
  }
  ASSERT_TRUE(w.close().ok());
  const std::string got = reader.close_and_join();
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "stream differs";
  EXPECT_EQ(w.stats().frames_written, 1500u);
}

TEST(PosixSink, RegularFileGetsTheExactBytes) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/posix_sink_test.XXXXXX");
  unique_fd file(::mkstemp(path.data()));
  ASSERT_GE(file.get(), 0) << "mkstemp " << path << ": " << errno;
  ::unlink(path.c_str());  // the open fd keeps it

  std::string expected;
  {
    procwire_writer w(posix_writev_sink(file.get()));
    auto h = w.handle();
    for (std::uint32_t i = 0; i < 700; ++i) {
      const std::string payload = payload_for(i, (i * 31) % 257);
      expected += wire_bytes(i, payload);
      ASSERT_TRUE(h.send(make_frame(i, payload)).ok()) << i;
    }
    ASSERT_TRUE(w.close().ok());
  }
  std::string got(expected.size() + 1, '\0');  // one more: proves nothing follows
  std::size_t have = 0;
  for (;;) {
    const ssize_t n =
        ::pread(file.get(), got.data() + have, got.size() - have, static_cast<off_t>(have));
    ASSERT_GE(n, 0) << "pread: " << errno;
    if (n == 0) break;
    have += static_cast<std::size_t>(n);
  }
  got.resize(have);
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "file contents differ";
  const std::vector<decoded_frame> frames = decode_all(got);
  ASSERT_EQ(frames.size(), 700u);
  EXPECT_EQ(frames[699].header.request_id, 699u);
}

TEST(PosixSink, OwnedFdIsClosedOnceByTheLastOwnerBorrowedFdIsLeftOpen) {
  fd_pair p = make_pipe();
  const int fd = p.write_end.get();
  { posix_writev_sink borrowed(fd); }
  EXPECT_TRUE(fd_is_open(fd)) << "borrowed (the default): not closed";

  auto owned = std::make_optional<posix_writev_sink>(
      fd, posix_writev_sink::options{.ownership = fd_ownership::owned});
  posix_writev_sink moved(std::move(*owned));
  EXPECT_EQ(owned->fd(), -1);
  EXPECT_EQ(moved.fd(), fd);
  owned.reset();
  EXPECT_TRUE(fd_is_open(fd)) << "a moved-from sink closes nothing";
  const std::string msg = "x";
  const const_buffer b = as_buffer(msg);
  absl::StatusOr<std::size_t> n = moved.write(std::span(&b, 1));
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 1u);
  { posix_writev_sink last(std::move(moved)); }
  EXPECT_FALSE(fd_is_open(fd)) << "the owning sink closed it";
  p.write_end.release();  // already closed by the sink
}

// --- EPIPE: a closed reader is an error, never a SIGPIPE death ------------------

// True when `s` reports the sink's `code`: as its own code, or carried in the
// message of the writer's wrapping status ("sink failed: FAILED_PRECONDITION:
// ...").
bool carries_code(const absl::Status& s, absl::StatusCode code) {
  return s.code() == code ||
         s.message().find(absl::StatusCodeToString(code)) != absl::string_view::npos;
}

// Sends until the writer reports the failure; returns the failure and the
// number of frames it accepted before that.
std::pair<absl::Status, std::uint64_t> send_until_failure(procwire_writer::handle_type h) {
  std::uint64_t accepted = 0;
  for (std::uint32_t i = 0; i < 100000; ++i) {
    absl::Status s = h.send(make_frame(i, "doomed"));
    if (!s.ok()) return {s, accepted};
    ++accepted;
  }
  return {absl::OkStatus(), accepted};
}

void expect_broken_pipe_failure(procwire_writer& w, int fd, const char* call) {
  auto [failure, accepted] = send_until_failure(w.handle());
  ASSERT_FALSE(failure.ok()) << "the writer never failed";
  EXPECT_TRUE(carries_code(failure, absl::StatusCode::kFailedPrecondition)) << failure;  // EPIPE
  EXPECT_NE(failure.message().find("Broken pipe"), std::string::npos) << failure;
  EXPECT_NE(failure.message().find(absl::StrCat(call, " to fd ", fd)), std::string::npos)
      << failure;
  EXPECT_GE(accepted, 1u);

  const absl::Status final_status = w.close();
  EXPECT_EQ(final_status.code(), failure.code()) << final_status;
  EXPECT_NE(final_status.message().find("Broken pipe"), std::string::npos) << final_status;
  EXPECT_NE(final_status.message().find(absl::StrCat("fd ", fd)), std::string::npos)
      << final_status;
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, accepted);
  EXPECT_EQ(st.frames_written, 0u) << "the reader was gone before the first byte";
  EXPECT_EQ(st.frames_lost, st.frames_accepted - st.frames_written);
  EXPECT_NE(final_status.message().find(absl::StrCat(st.frames_lost, " accepted frame(s)")),
            std::string::npos)
      << final_status;
  EXPECT_FALSE(sigpipe_pending()) << "no SIGPIPE left pending for the process";
}

TEST(PosixSinkSigpipe, WriterOnAPipeWhoseReaderIsGoneFailsWithBrokenPipe) {
  deadly_sigpipe deadly;
  fd_pair p = make_pipe();
  p.read_end.reset();
  procwire_writer w(posix_writev_sink(p.write_end.get()));
  expect_broken_pipe_failure(w, p.write_end.get(), "writev");
}

TEST(PosixSinkSigpipe, WriterOnASocketWhosePeerIsGoneFailsWithBrokenPipe) {
  deadly_sigpipe deadly;
  fd_pair s = make_socketpair();
  s.read_end.reset();
  procwire_writer w(posix_writev_sink(s.write_end.get()));
  expect_broken_pipe_failure(w, s.write_end.get(), "sendmsg");
}

// The sink may also be called from a thread that is not the writer's: it
// must then block SIGPIPE only around its own call, consume the signal it
// raised and leave the thread's mask as it was.
TEST(PosixSinkSigpipe, DirectWriteFromAnotherThreadLeavesNoSignalAndTheMaskUnchanged) {
  deadly_sigpipe deadly;
  fd_pair p = make_pipe();
  p.read_end.reset();
  posix_writev_sink sink(p.write_end.get());
  const sigset_t before = current_mask();
  ASSERT_EQ(sigismember(&before, SIGPIPE), 0);
  const std::string msg = "nobody listens";
  const const_buffer b = as_buffer(msg);
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<std::size_t> n = sink.write(std::span(&b, 1));
    ASSERT_FALSE(n.ok());
    EXPECT_EQ(n.status().code(), absl::StatusCode::kFailedPrecondition) << n.status();
    EXPECT_NE(n.status().message().find(absl::StrCat("writev to fd ", p.write_end.get())),
              std::string::npos)
        << n.status();
    EXPECT_NE(n.status().message().find("Broken pipe"), std::string::npos) << n.status();
    EXPECT_FALSE(sigpipe_pending());
    EXPECT_TRUE(same_mask(current_mask(), before)) << "signal mask changed";
  }
}

// Sockets need no mask at all: sendmsg with MSG_NOSIGNAL raises nothing.
TEST(PosixSinkSigpipe, DirectWriteToASocketWhosePeerIsGoneRaisesNoSignal) {
  deadly_sigpipe deadly;
  fd_pair s = make_socketpair();
  s.read_end.reset();
  posix_writev_sink sink(s.write_end.get());
  const sigset_t before = current_mask();
  const std::string msg = "nobody listens";
  const const_buffer b = as_buffer(msg);
  absl::StatusOr<std::size_t> n = sink.write(std::span(&b, 1));
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find(absl::StrCat("sendmsg to fd ", s.write_end.get())),
            std::string::npos)
      << n.status();
  EXPECT_NE(n.status().message().find("Broken pipe"), std::string::npos) << n.status();
  EXPECT_FALSE(sigpipe_pending());
  EXPECT_TRUE(same_mask(current_mask(), before)) << "signal mask changed";
}

TEST(PosixSinkSigpipe, DirectWriteWithSigpipeAlreadyBlockedConsumesItsSignal) {
  deadly_sigpipe deadly;
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr), 0);
  const sigset_t before = current_mask();
  fd_pair p = make_pipe();
  p.read_end.reset();
  posix_writev_sink sink(p.write_end.get());
  const std::string msg = "nobody listens";
  const const_buffer b = as_buffer(msg);
  absl::StatusOr<std::size_t> n = sink.write(std::span(&b, 1));
  EXPECT_NE(n.status().message().find("Broken pipe"), std::string::npos) << n.status();
  EXPECT_FALSE(sigpipe_pending()) << "the signal this call raised was consumed";
  EXPECT_TRUE(same_mask(current_mask(), before)) << "SIGPIPE must stay blocked";
}

TEST(PosixSinkSigpipe, DirectWriteLeavesASigpipePendingBeforeItAlone) {
  deadly_sigpipe deadly;
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr), 0);
  ASSERT_EQ(pthread_kill(pthread_self(), SIGPIPE), 0);  // someone else's signal
  ASSERT_TRUE(sigpipe_pending());
  fd_pair p = make_pipe();
  p.read_end.reset();
  posix_writev_sink sink(p.write_end.get());
  const std::string msg = "nobody listens";
  const const_buffer b = as_buffer(msg);
  absl::StatusOr<std::size_t> n = sink.write(std::span(&b, 1));
  EXPECT_NE(n.status().message().find("Broken pipe"), std::string::npos) << n.status();
  EXPECT_TRUE(sigpipe_pending()) << "a signal pending before the call is not the sink's";
  const timespec zero{0, 0};
  EXPECT_EQ(::sigtimedwait(&pipe_only, nullptr, &zero), SIGPIPE);  // clean up
  EXPECT_FALSE(sigpipe_pending());
}

// --- non-blocking fds ------------------------------------------------------------

TEST(PosixSinkNonBlocking, OneWriteToAFullishPipeIsShortNotAnError) {
  fd_pair p = make_pipe();
  const int capacity = shrink_pipe(p.write_end.get());
  ASSERT_GT(capacity, 0);
  set_nonblocking(p.write_end.get(), true);
  posix_writev_sink sink(p.write_end.get());
  const std::string big = payload_for(1, static_cast<std::size_t>(capacity) * 2 + 100);
  const const_buffer b[2] = {as_buffer(std::string_view(big).substr(0, 7)),
                             as_buffer(std::string_view(big).substr(7))};
  absl::StatusOr<std::size_t> n = sink.write(b);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_GT(*n, 0u);
  EXPECT_LE(*n, static_cast<std::size_t>(capacity)) << "a pipe takes no more than it holds";
  EXPECT_EQ(read_exactly(p.read_end.get(), *n), big.substr(0, *n));
}

// EAGAIN: a non-blocking pipe of one page and a reader that drains it in
// small reads. The writer is held until all frames are queued, so its second
// batch (64 frames of 111 bytes) is larger than the pipe: partial writes are
// certain, and whenever the pipe is full the sink waits in poll().
TEST(PosixSinkNonBlocking, SlowReaderOnANonBlockingPipeGetsEveryFrameInOrder) {
  constexpr std::uint32_t kFrames = 2000;
  constexpr std::size_t kPayload = 100;
  fd_pair p = make_pipe();
  const int capacity = shrink_pipe(p.write_end.get());
  ASSERT_GT(capacity, 0);
  set_nonblocking(p.write_end.get(), true);
  writer_options o;
  o.max_pending_frames = 2048;
  o.queue_capacity = 2048;
  gated_posix_sink sink{posix_writev_sink(p.write_end.get())};
  auto g = sink.g;
  gated_posix_writer w(std::move(sink), o);
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(0, payload_for(0, kPayload))).ok());
  g->await_arrivals(1);  // the writer holds frame 0 alone
  for (std::uint32_t i = 1; i < kFrames; ++i) {
    ASSERT_TRUE(h.send(make_frame(i, payload_for(i, kPayload))).ok()) << i;
  }
  reader_thread reader(p.read_end.get(), p.write_end, /*chunk=*/97);
  g->open();
  ASSERT_TRUE(w.close().ok());
  const std::string got = reader.close_and_join();

  const std::vector<decoded_frame> frames = decode_all(got);
  ASSERT_EQ(frames.size(), kFrames);
  for (std::uint32_t i = 0; i < kFrames; ++i) {
    ASSERT_EQ(frames[i].header.request_id, i);
    ASSERT_EQ(frames[i].payload.as_string_view(), payload_for(i, kPayload)) << i;
  }
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_written, kFrames);
  EXPECT_EQ(st.bytes_written, kFrames * (kHeaderSize + kPayload));
  EXPECT_EQ(st.frames_lost, 0u);
  if (64 * (kHeaderSize + kPayload) > static_cast<std::size_t>(capacity)) {
    EXPECT_GT(st.partial_writes, 0u);
  }
}

TEST(PosixSinkNonBlocking, PipeNobodyReadsFailsAfterTheWriteTimeout) {
  fd_pair p = make_pipe();
  ASSERT_GT(shrink_pipe(p.write_end.get()), 0);
  set_nonblocking(p.write_end.get(), true);
  posix_writev_sink::options so;
  so.write_timeout = absl::Milliseconds(50);
  writer_options o;
  o.backpressure_timeout = absl::Hours(1);  // only the sink may give up
  const absl::Time start = absl::Now();
  procwire_writer w(posix_writev_sink(p.write_end.get(), so), o);
  auto h = w.handle();
  const std::string payload(1000, 'p');
  absl::Status failure;
  std::uint64_t accepted = 0;
  for (std::uint32_t i = 0; i < 100000 && failure.ok(); ++i) {
    failure = h.send(make_frame(i, payload));
    if (failure.ok()) ++accepted;
  }
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  ASSERT_FALSE(failure.ok()) << "the writer never failed";
  EXPECT_TRUE(carries_code(failure, absl::StatusCode::kDeadlineExceeded)) << failure;
  EXPECT_NE(failure.message().find(absl::StrCat("fd ", p.write_end.get(), " not writable")),
            std::string::npos)
      << failure;
  EXPECT_NE(failure.message().find("50ms"), std::string::npos) << failure;

  const absl::Status final_status = w.close();
  EXPECT_EQ(final_status.code(), failure.code()) << final_status;
  EXPECT_NE(final_status.message().find("not writable"), std::string::npos) << final_status;
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, accepted);
  EXPECT_GE(st.frames_lost, 1u) << "the batch that timed out was not complete";
  EXPECT_EQ(st.frames_lost, st.frames_accepted - st.frames_written);
  EXPECT_EQ(st.backpressure_timeouts, 0u);
}

// --- IOV_MAX -----------------------------------------------------------------------

TEST(PosixSinkIovMax, OneWriteTakesAtMostIovMaxRangesAndTheRestFollows) {
  constexpr std::size_t kRanges = 2500;
  static_assert(kRanges > IOV_MAX);
  // Ranges of 1..7 bytes, cut from one backing string.
  std::string backing;
  std::vector<std::size_t> sizes;
  for (std::size_t i = 0; i < kRanges; ++i) {
    sizes.push_back(1 + i % 7);
    backing += payload_for(static_cast<std::uint32_t>(i), sizes.back());
  }
  std::vector<const_buffer> ranges;
  std::size_t offset = 0, first_iov_max_bytes = 0;
  for (std::size_t i = 0; i < kRanges; ++i) {
    ranges.push_back(as_buffer(std::string_view(backing).substr(offset, sizes[i])));
    offset += sizes[i];
    if (i < IOV_MAX) first_iov_max_bytes += sizes[i];
  }

  fd_pair p = make_pipe();
  reader_thread reader(p.read_end.get(), p.write_end);
  // Held in an optional: the sink's own fd keeps the pipe open until the
  // sink is destroyed (no writer thread here to call on_writer_thread_stop).
  std::optional<posix_writev_sink> sink_holder(std::in_place, p.write_end.get());
  posix_writev_sink& sink = *sink_holder;
  std::span<const_buffer> rest(ranges);
  absl::StatusOr<std::size_t> n = sink.write(rest);
  ASSERT_TRUE(n.ok()) << n.status() << " (more than IOV_MAX ranges must not reach writev)";
  EXPECT_GT(*n, 0u);
  EXPECT_LE(*n, first_iov_max_bytes);
  rest = consume_front(rest, *n);
  int calls = 1;
  while (!rest.empty()) {
    const std::size_t limit = total_size(rest.first(std::min<std::size_t>(rest.size(), IOV_MAX)));
    n = sink.write(rest);
    ASSERT_TRUE(n.ok()) << n.status();
    ASSERT_GT(*n, 0u);
    ASSERT_LE(*n, limit);
    rest = consume_front(rest, *n);
    ++calls;
    ASSERT_LT(calls, 100000);
  }
  EXPECT_GE(calls, 3) << "2500 ranges need at least 3 calls of 1024";
  sink_holder.reset();
  const std::string got = reader.close_and_join();
  EXPECT_EQ(got.size(), backing.size());
  EXPECT_TRUE(got == backing) << "stream differs";
}

// Through the writer: one batch of 2500 frames (5000 ranges) held back until
// all are queued, then written through a real pipe.
TEST(PosixSinkIovMax, WriterBatchOfMoreThanIovMaxRangesArrivesIntact) {
  constexpr std::uint32_t kFrames = 2500;
  fd_pair p = make_pipe();
  reader_thread reader(p.read_end.get(), p.write_end);
  writer_options o;
  o.max_pending_frames = 4096;
  o.queue_capacity = 4096;
  gated_posix_sink sink{posix_writev_sink(p.write_end.get())};
  auto g = sink.g;
  auto rec = sink.rec;
  gated_posix_writer w(std::move(sink), o, sleep_backpressure{}, count_batcher(3000));
  auto h = w.handle();
  std::string expected = wire_bytes(100000, "first");
  ASSERT_TRUE(h.send(make_frame(100000, "first")).ok());
  g->await_arrivals(1);
  for (std::uint32_t i = 0; i < kFrames; ++i) {
    const std::string payload = payload_for(i, 1 + i % 5);
    expected += wire_bytes(i, payload);
    ASSERT_TRUE(h.send(make_frame(i, payload)).ok()) << i;
  }
  g->open();
  ASSERT_TRUE(w.close().ok());
  const std::string got = reader.close_and_join();
  EXPECT_EQ(got.size(), expected.size());
  EXPECT_TRUE(got == expected) << "stream differs";

  const writer_stats st = w.stats();
  EXPECT_EQ(st.batches, 2u) << "frame 0 alone, then all 2500 at once";
  EXPECT_EQ(st.frames_written, kFrames + 1);
  EXPECT_EQ(rec->max_ranges_offered, 2u * kFrames);
  EXPECT_EQ(rec->over_iov_max, 0u) << "a write took more than its first IOV_MAX ranges";
  EXPECT_GE(st.write_calls, 1u + (2u * kFrames + IOV_MAX - 1) / IOV_MAX);
}

// --- EINTR -------------------------------------------------------------------------

// Deterministic: the writing thread is observed (through /proc) blocked in
// writev on a full pipe before the signal is sent, so the signal interrupts
// that very call; with a handler installed without SA_RESTART, writev fails
// with EINTR and the sink must retry, not report an error.
TEST(PosixSinkEintr, InterruptedWriteIsRetried) {
  if (::access("/proc/self/task/self/syscall", R_OK) != 0 &&
      ::access(absl::StrCat("/proc/self/task/", ::syscall(SYS_gettid), "/syscall").c_str(), R_OK) !=
          0) {
    GTEST_SKIP() << "/proc/<pid>/task/<tid>/syscall is not readable here";
  }
  sigusr1_handler handler;  // installed for the test, restored after it
  g_sigusr1_count.store(0);

  fd_pair p = make_pipe();
  const int capacity = shrink_pipe(p.write_end.get());
  ASSERT_GT(capacity, 0);
  // Fill the pipe completely, then make it blocking again.
  set_nonblocking(p.write_end.get(), true);
  std::size_t prefilled = 0;
  const std::string fill(4096, 'f');
  for (;;) {
    const ssize_t n = ::write(p.write_end.get(), fill.data(), fill.size());
    if (n < 0) {
      ASSERT_EQ(errno, EAGAIN);
      break;
    }
    prefilled += static_cast<std::size_t>(n);
  }
  set_nonblocking(p.write_end.get(), false);
  ASSERT_GT(prefilled, 0u);

  // A blocking pipe, left blocking, so that the thread blocks in writev itself.
  posix_writev_sink sink(p.write_end.get(), {.interruptible_pipes = false});
  const std::string msg = payload_for(3, 100);
  const const_buffer b = as_buffer(msg);
  std::atomic<pid_t> tid{0};
  std::atomic<bool> returned{false};
  absl::StatusOr<std::size_t> result = absl::UnknownError("not run");
  scoped_thread writer(
      [&] {
        tid.store(static_cast<pid_t>(::syscall(SYS_gettid)));
        result = sink.write(std::span(&b, 1));  // blocks: the pipe is full
        returned.store(true);
      },
      [&] { p.read_end.reset(); });  // on early exit: EPIPE ends the write
  ASSERT_TRUE(wait_until([&] { return tid.load() != 0; }));
  ASSERT_TRUE(wait_until([&] { return blocked_syscall(tid.load()) == SYS_writev; }))
      << "the thread never blocked in writev";
  ASSERT_EQ(pthread_kill(writer.native_handle(), SIGUSR1), 0);
  ASSERT_TRUE(wait_until([&] { return g_sigusr1_count.load() == 1; }));
  // Back in writev after the handler ran (the sink retried), or returned
  // (the pipe is still full, so only with an error).
  ASSERT_TRUE(
      wait_until([&] { return returned.load() || blocked_syscall(tid.load()) == SYS_writev; }));
  ASSERT_FALSE(returned.load()) << "the interrupted write was not retried: " << result.status();
  EXPECT_EQ(read_exactly(p.read_end.get(), prefilled), std::string(prefilled, 'f'));
  EXPECT_EQ(read_exactly(p.read_end.get(), msg.size()), msg);
  writer.join();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, msg.size());
}

}  // namespace
}  // namespace funnel
