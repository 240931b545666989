// basic_writer behaviour with in-memory sinks: the seed's writer tests and
// what the seed did not check (exact bound, close, failure accounting,
// partial writes at every size).
#include <atomic>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/options.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/procwire/frame.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing_internal::decode_all;
using testing_internal::gated_sink;
using testing_internal::make_frame;
using testing_internal::wire_bytes;

using memory_writer =
    basic_writer<mpsc_ring<outbound_frame>, memory_sink, sleep_backpressure, count_batcher>;
using gated_writer =
    basic_writer<mpsc_ring<outbound_frame>, gated_sink, sleep_backpressure, count_batcher>;

// Seed: test_writer_config_default.
TEST(WriterOptions, DefaultsAreTheSeeds) {
  writer_options o;
  EXPECT_EQ(o.max_pending_frames, 1024u);
  EXPECT_EQ(o.queue_capacity, 1024u);
  EXPECT_EQ(o.backpressure_timeout, absl::Seconds(5));
  EXPECT_EQ(o.max_pending_bytes, 0u);
  EXPECT_EQ(count_batcher().max_frames(), 64u);
  EXPECT_EQ(sleep_backpressure().poll_interval(), absl::Microseconds(100));
}

// Seed: test_writer_handle_send (bytes read back from a memory sink; the
// pipe version is in posix_sink_test).
TEST(Writer, SendThenReadTheBytesBack) {
  memory_sink sink;
  auto buffer = sink.buffer();
  memory_writer w(std::move(sink));
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(42, "hello")).ok());
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(buffer->contents(), wire_bytes(42, "hello"));
}

// Seed: test_writer_handle_pending_count.
TEST(Writer, PendingCountStartsAtZero) {
  writer_options o;
  o.max_pending_frames = 1000;
  o.queue_capacity = 100;
  o.backpressure_timeout = absl::Seconds(1);
  memory_writer w(memory_sink{}, o);
  auto h = w.handle();
  EXPECT_EQ(h.pending_count(), 0u);
  EXPECT_FALSE(h.is_backpressure_active());
}

TEST(Writer, PendingCountCountsFramesUntilTheyAreWritten) {
  gated_sink sink;
  auto s = sink.s;
  gated_writer w(std::move(sink));
  auto h = w.handle();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(h.send(make_frame(i, "x")).ok());
  s->g.await_arrivals(1);  // the writer is inside write(): nothing written yet
  EXPECT_EQ(h.pending_count(), 5u);
  s->g.open();
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(h.pending_count(), 0u);
}

// Seed: test_writer_batching. The first frame is held in the gated write,
// so the 9 others are all ready when the writer comes back: one batch.
TEST(Writer, TenFramesBatched) {
  gated_sink sink;
  auto s = sink.s;
  gated_writer w(std::move(sink));
  auto h = w.handle();
  std::string expected;
  for (std::uint32_t i = 0; i < 10; ++i) {
    const std::string payload(reinterpret_cast<const char*>(&i), 4);
    expected += wire_bytes(i, payload);
    ASSERT_TRUE(h.send(make_frame(i, payload)).ok());
    if (i == 0) s->g.await_arrivals(1);
  }
  s->g.open();
  ASSERT_TRUE(w.close().ok());
  absl::MutexLock lock(&s->mu);
  EXPECT_EQ(s->data.size(), 10 * (kHeaderSize + 4));
  EXPECT_EQ(s->data, expected);
  EXPECT_EQ(s->batch_ranges, (std::vector<std::size_t>{2, 18}));
  EXPECT_EQ(w.stats().batches, 2u);
  EXPECT_EQ(w.stats().frames_written, 10u);
}

// Seed: test_try_send_at_capacity.
TEST(Writer, TrySendAtCapacityFailsAtOnce) {
  gated_sink sink;
  auto s = sink.s;
  writer_options o;
  o.max_pending_frames = 100;
  gated_writer w(std::move(sink), o);
  auto h = w.handle();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(h.try_send(make_frame(i, "")).ok()) << i;
  EXPECT_TRUE(h.is_backpressure_active());
  outbound_frame extra = make_frame(1000, "kept");
  absl::Status st = h.try_send(std::move(extra));
  EXPECT_EQ(st.code(), absl::StatusCode::kResourceExhausted) << st;
  EXPECT_NE(st.message().find("max_pending_frames 100"), std::string::npos) << st;
  EXPECT_EQ(w.stats().backpressure_waits, 0u) << "try_send never takes the wait path";
  EXPECT_TRUE(extra.valid()) << "a rejected frame is left to the caller";
  s->g.open();
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_written, 100u);
}

TEST(Writer, SendTimesOutWithDeadlineExceeded) {
  gated_sink sink;
  auto s = sink.s;
  writer_options o;
  o.max_pending_frames = 2;
  o.backpressure_timeout = absl::Milliseconds(50);
  gated_writer w(std::move(sink), o);
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(1, "a")).ok());
  ASSERT_TRUE(h.send(make_frame(2, "b")).ok());
  const absl::Time start = absl::Now();
  absl::Status st = h.send(make_frame(3, "c"));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(50));
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded) << st;
  EXPECT_NE(st.message().find("50ms"), std::string::npos) << st;
  EXPECT_EQ(w.stats().backpressure_timeouts, 1u);
  EXPECT_EQ(w.stats().backpressure_waits, 1u);
  s->g.open();
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_written, 2u);
}

TEST(Writer, WaitingSendProceedsOnceTheWriterCatchesUp) {
  gated_sink sink;
  auto s = sink.s;
  writer_options o;
  o.max_pending_frames = 1;
  gated_writer w(std::move(sink), o);
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(1, "a")).ok());
  s->g.await_arrivals(1);
  std::thread opener([&] { s->g.open(); });
  EXPECT_TRUE(h.send(make_frame(2, "b")).ok());  // waits until frame 1 is written
  opener.join();
  ASSERT_TRUE(w.close().ok());
  absl::MutexLock lock(&s->mu);
  EXPECT_EQ(s->data, wire_bytes(1, "a") + wire_bytes(2, "b"));
}

// Seed: test_write_batch_single / test_write_batch_multiple.
TEST(Writer, SingleAndMultipleFrameBatchesAreOneWriteEach) {
  for (int frames : {1, 5}) {
    gated_sink sink;
    auto s = sink.s;
    gated_writer w(std::move(sink));
    auto h = w.handle();
    // Hold the writer on a first frame, queue `frames` more, release.
    ASSERT_TRUE(h.send(make_frame(100, "first")).ok());
    s->g.await_arrivals(1);
    for (int i = 0; i < frames; ++i) ASSERT_TRUE(h.send(make_frame(i, "abc")).ok());
    s->g.open();
    ASSERT_TRUE(w.close().ok());
    absl::MutexLock lock(&s->mu);
    EXPECT_EQ(s->data.size(), (kHeaderSize + 5) + frames * (kHeaderSize + 3));
    EXPECT_EQ(s->batch_ranges, (std::vector<std::size_t>{2, 2u * frames}));
  }
}

TEST(Writer, BatchesNeverExceedTheBatcherLimit) {
  gated_sink sink;
  auto s = sink.s;
  gated_writer w(std::move(sink), writer_options{}, sleep_backpressure{}, count_batcher(4));
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(0, "")).ok());
  s->g.await_arrivals(1);
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(h.send(make_frame(i, "")).ok());
  s->g.open();
  ASSERT_TRUE(w.close().ok());
  absl::MutexLock lock(&s->mu);
  // Empty payloads: one range per frame.
  EXPECT_EQ(s->batch_ranges, (std::vector<std::size_t>{1, 4, 4, 2}));
  std::vector<std::uint32_t> ids;
  for (const decoded_frame& f : decode_all(s->data)) ids.push_back(f.header.request_id);
  EXPECT_EQ(ids, (std::vector<std::uint32_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

// Seed: test_writer_shutdown_on_channel_close. Handles going away does not
// lose anything; closing the writer ends the thread cleanly.
TEST(Writer, CleanShutdownAfterEveryHandleIsGone) {
  memory_sink sink;
  auto buffer = sink.buffer();
  memory_writer w(std::move(sink));
  {
    auto a = w.handle();
    auto b = a;  // cheap copy
    ASSERT_TRUE(a.send(make_frame(1, "one")).ok());
    ASSERT_TRUE(b.send(make_frame(2, "two")).ok());
  }
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(buffer->contents(), wire_bytes(1, "one") + wire_bytes(2, "two"));
  EXPECT_TRUE(w.close().ok()) << "close is idempotent";
}

TEST(Writer, DestructorDrainsEveryAcceptedFrame) {
  memory_sink sink;
  auto buffer = sink.buffer();
  {
    memory_writer w(std::move(sink));
    auto h = w.handle();
    for (int i = 0; i < 500; ++i) ASSERT_TRUE(h.send(make_frame(i, "payload")).ok());
  }
  EXPECT_EQ(decode_all(buffer->contents()).size(), 500u);
}

TEST(Writer, SendAfterCloseIsFailedPreconditionAndHandlesMayOutliveTheWriter) {
  auto w = std::make_unique<memory_writer>(memory_sink{});
  auto h = w->handle();
  ASSERT_TRUE(w->close().ok());
  outbound_frame f = make_frame(1, "late");
  absl::Status st = h.send(std::move(f));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_NE(st.message().find("closed"), std::string::npos) << st;
  EXPECT_TRUE(f.valid());
  w.reset();
  EXPECT_EQ(h.try_send(make_frame(2, "later")).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(Writer, InvalidOptionsAreReportedNotThrown) {
  writer_options o;
  o.max_pending_frames = 0;
  memory_writer w(memory_sink{}, o);
  absl::Status st = w.handle().send(make_frame(1, "x"));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("max_pending_frames"), std::string::npos) << st;
  EXPECT_EQ(w.close().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Writer, ByteBudgetBoundsPendingBytesAndRejectsOversizeFrames) {
  gated_sink sink;
  auto s = sink.s;
  writer_options o;
  o.max_pending_bytes = 3 * (kHeaderSize + 10);
  gated_writer w(std::move(sink), o);
  auto h = w.handle();
  const std::string ten(10, 'z');
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(h.try_send(make_frame(i, ten)).ok());
  EXPECT_TRUE(h.is_backpressure_active());
  EXPECT_EQ(h.try_send(make_frame(9, ten)).code(), absl::StatusCode::kResourceExhausted);
  absl::Status big = h.try_send(make_frame(10, std::string(100, 'b')));
  EXPECT_EQ(big.code(), absl::StatusCode::kInvalidArgument) << big;
  EXPECT_NE(big.message().find("max_pending_bytes"), std::string::npos) << big;
  s->g.open();
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_written, 3u);
}

// A sink that accepts at most k bytes per call must still produce the exact
// stream, for every k from 1 to a whole frame.
TEST(Writer, ShortWritesOfEverySizeProduceAByteIdenticalStream) {
  std::string expected;
  for (int i = 0; i < 12; ++i) expected += wire_bytes(i, std::string(i * 5, 'a' + i));
  const std::size_t largest = kHeaderSize + 11 * 5;
  for (std::size_t k = 1; k <= largest; ++k) {
    memory_sink sink(memory_sink::options{.max_bytes_per_write = k});
    auto buffer = sink.buffer();
    memory_writer w(std::move(sink));
    auto h = w.handle();
    for (int i = 0; i < 12; ++i)
      ASSERT_TRUE(h.send(make_frame(i, std::string(i * 5, 'a' + i))).ok());
    ASSERT_TRUE(w.close().ok());
    ASSERT_EQ(buffer->contents(), expected) << "k = " << k;
    const writer_stats st = w.stats();
    EXPECT_EQ(st.bytes_written, expected.size());
    EXPECT_EQ(st.write_calls, buffer->write_calls());
    // What the writer guarantees whatever the batching: no call takes more
    // than k bytes, and a batch holding the largest frame (> k bytes) cannot
    // be written in one call.
    EXPECT_GE(st.write_calls, (expected.size() + k - 1) / k) << "k = " << k;
    if (k < largest) {
      EXPECT_GT(st.partial_writes, 0u) << "k = " << k;
    }
  }
}

// A sink that fails after a number of bytes.
struct failing_sink {
  std::size_t budget;  // bytes it accepts before failing
  absl::StatusOr<std::size_t> write(std::span<const const_buffer> b) {
    if (budget == 0) return absl::UnavailableError("injected failure: peer went away");
    const std::size_t n = std::min(budget, total_size(b));
    budget -= n;
    return n;
  }
};
using failing_writer =
    basic_writer<mpsc_ring<outbound_frame>, failing_sink, sleep_backpressure, count_batcher>;

TEST(Writer, SinkFailurePropagatesItsCauseAndCountsLostFrames) {
  // 3 whole frames and part of a 4th, then failure.
  const std::size_t frame = kHeaderSize + 4;
  failing_writer w(failing_sink{3 * frame + 2});
  auto h = w.handle();
  int accepted = 0;
  absl::Status last;
  for (int i = 0; i < 50; ++i) {
    last = h.send(make_frame(i, "data"));
    if (!last.ok()) break;
    ++accepted;
  }
  // Every later send must name the cause; wait for the writer to fail.
  while (last.ok()) {
    last = h.send(make_frame(99, "data"));
    if (last.ok()) ++accepted;
  }
  EXPECT_EQ(last.code(), absl::StatusCode::kUnavailable) << last;
  EXPECT_NE(last.message().find("peer went away"), std::string::npos) << last;
  absl::Status final_status = w.close();
  EXPECT_EQ(final_status.code(), absl::StatusCode::kUnavailable);
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_written, 3u);
  EXPECT_EQ(st.frames_accepted, static_cast<std::uint64_t>(accepted));
  EXPECT_EQ(st.frames_lost, st.frames_accepted - st.frames_written);
  EXPECT_NE(final_status.message().find(absl::StrCat(st.frames_lost, " accepted frame(s)")),
            std::string::npos)
      << final_status;
}

TEST(Writer, ProducersWaitingUnderBackpressureWakeOnFailure) {
  gated_sink sink;
  auto s = sink.s;
  writer_options o;
  o.max_pending_frames = 1;
  o.backpressure_timeout = absl::Hours(1);
  // The gated sink is wrapped so that its first write fails once the gate opens.
  struct fail_after_gate {
    gated_sink inner;
    absl::StatusOr<std::size_t> write(std::span<const const_buffer> b) {
      (void)inner.write(b);
      return absl::AbortedError("injected: disk on fire");
    }
  };
  basic_writer<mpsc_ring<outbound_frame>, fail_after_gate, sleep_backpressure, count_batcher> w(
      fail_after_gate{std::move(sink)}, o);
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(1, "a")).ok());
  s->g.await_arrivals(1);
  std::thread waiter([&] {
    absl::Status st = h.send(make_frame(2, "b"));  // blocks: 1 frame pending
    EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
    EXPECT_NE(st.message().find("disk on fire"), std::string::npos) << st;
  });
  while (w.stats().backpressure_waits < 1) std::this_thread::yield();  // the waiter waits
  s->g.open();
  waiter.join();  // would hang for an hour if the waiter were not released
  EXPECT_EQ(w.close().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(w.stats().frames_lost, 1u);
}

}  // namespace
}  // namespace funnel
