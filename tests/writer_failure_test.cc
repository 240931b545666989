// basic_writer's failure semantics: bad frames, a failing flush, a Queue
// that breaks its contract, a sink failing while producers send and wait,
// the byte bound, and policies that throw. Each test counts the sends that
// returned OK itself and checks the writer's counters against that count.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/options.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/procwire/frame.h"
#include "funnel/testing/fault_sink.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing::fault;
using testing::fault_injecting_sink;
using testing_internal::decode_all;
using testing_internal::gated_sink;
using testing_internal::kTsan;
using testing_internal::make_frame;

using memory_writer =
    basic_writer<mpsc_ring<outbound_frame>, memory_sink, sleep_backpressure, count_batcher>;

bool contains(const absl::Status& s, std::string_view what) {
  return s.message().find(what) != std::string_view::npos;
}

// Defect: an empty frame used to be accepted and desynchronised the stream.
TEST(WriterFailure, EmptyFramesAreRefusedBeforeTakingBudget) {
  memory_sink sink;
  auto buffer = sink.buffer();
  memory_writer w(std::move(sink));
  auto h = w.handle();
  outbound_frame f = make_frame(1, "once");
  ASSERT_TRUE(h.send(std::move(f)).ok());
  const outbound_frame empty;
  for (absl::Status st : {h.send(std::move(f)), h.try_send(std::move(f)), h.send(empty),
                          h.try_send(empty), h.send(outbound_frame())}) {
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_TRUE(contains(st, "frame is empty")) << st;
  }
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_accepted, 1u);
  EXPECT_EQ(w.stats().frames_written, 1u);
  ASSERT_EQ(decode_all(buffer->contents()).size(), 1u);  // fails on a bad header
}

// A sink whose flush() fails after the bytes were taken.
struct flush_failing_sink {
  absl::StatusOr<std::size_t> write(std::span<const const_buffer> b) { return total_size(b); }
  absl::Status flush() { return absl::DataLossError("injected: fsync failed"); }
};

// Defect: flush() returned OK although the writer had failed.
TEST(WriterFailure, FlushReturnsTheFailureOfAFailedSinkFlush) {
  basic_writer<mpsc_ring<outbound_frame>, flush_failing_sink, sleep_backpressure, count_batcher> w(
      flush_failing_sink{});
  ASSERT_TRUE(w.handle().send(make_frame(1, "x")).ok());
  const absl::Status st = w.flush();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_TRUE(contains(st, "fsync failed")) << st;
  EXPECT_EQ(w.flush().code(), absl::StatusCode::kUnavailable) << "and on every later call";
  EXPECT_EQ(w.close().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(w.stats().frames_written, 1u) << "the bytes reached the sink";
  EXPECT_EQ(w.stats().frames_lost, 0u);
}

TEST(WriterFailure, FlushOfAWriterThatStartedFailedReturnsItsStatus) {
  writer_options o;
  o.backpressure_timeout = absl::Seconds(-1);
  memory_writer w(memory_sink{}, o);
  const absl::Status st = w.flush();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_TRUE(contains(st, "backpressure_timeout")) << st;
}

// A Queue whose capacity() is smaller than what it was asked for.
struct small_queue : mpsc_ring<outbound_frame> {
  explicit small_queue(std::size_t) : mpsc_ring<outbound_frame>(8) {}
};

// Defect: such a queue reached the queue-full path and counted a failed send
// as accepted. Now the writer refuses to start.
TEST(WriterFailure, AQueueSmallerThanTheBoundIsRejectedAtConstruction) {
  writer_options o;
  o.max_pending_frames = 64;
  basic_writer<small_queue, memory_sink, sleep_backpressure, count_batcher> w(memory_sink{}, o);
  const absl::Status st = w.handle().send(make_frame(1, "x"));
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_TRUE(contains(st, "capacity() 8 is below max_pending_frames 64")) << st;
  EXPECT_EQ(w.close().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(w.stats().frames_accepted, 0u);
}

// A Queue that claims room but refuses its 5th push.
struct refusing_queue : mpsc_ring<outbound_frame> {
  using mpsc_ring<outbound_frame>::mpsc_ring;
  bool try_push(outbound_frame& f) {
    return ++pushes_ != 5 && mpsc_ring<outbound_frame>::try_push(f);
  }
  int pushes_ = 0;  // producers: one thread in the test
};

TEST(WriterFailure, AQueueThatBreaksItsContractFailsTheWriterAndCountsExactly) {
  memory_sink sink;
  auto buffer = sink.buffer();
  basic_writer<refusing_queue, memory_sink, sleep_backpressure, count_batcher> w(std::move(sink));
  auto h = w.handle();
  std::uint64_t ok = 0;
  absl::Status last;
  for (int i = 0; i < 10; ++i) {
    last = h.send(make_frame(i, "data"));
    if (!last.ok()) break;
    ++ok;
  }
  EXPECT_EQ(ok, 4u);
  EXPECT_EQ(last.code(), absl::StatusCode::kInternal) << last;
  EXPECT_TRUE(contains(last, "the Queue broke its contract")) << last;
  EXPECT_EQ(h.send(make_frame(99, "late")).code(), absl::StatusCode::kInternal);
  EXPECT_EQ(w.close().code(), absl::StatusCode::kInternal);
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, ok);
  EXPECT_EQ(st.frames_accepted, st.frames_written + st.frames_lost);
  EXPECT_EQ(decode_all(buffer->contents()).size(), st.frames_written);
}

// A Queue whose 3rd push throws on the producer's thread.
struct throwing_push_queue : mpsc_ring<outbound_frame> {
  using mpsc_ring<outbound_frame>::mpsc_ring;
  bool try_push(outbound_frame& f) {
    if (++pushes_ == 3) throw std::runtime_error("push exploded");
    return mpsc_ring<outbound_frame>::try_push(f);
  }
  int pushes_ = 0;  // producers: one thread in the test
};

TEST(WriterFailure, AProducerSideThrowReachesTheCallerAndLeavesTheWriterUntouched) {
  memory_sink sink;
  auto buffer = sink.buffer();
  basic_writer<throwing_push_queue, memory_sink, sleep_backpressure, count_batcher> w(
      std::move(sink));
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(1, "a")).ok());
  ASSERT_TRUE(h.send(make_frame(2, "b")).ok());
  EXPECT_THROW((void)h.send(make_frame(3, "c")), std::runtime_error);
  ASSERT_TRUE(h.send(make_frame(4, "d")).ok());
  EXPECT_TRUE(w.flush().ok());
  EXPECT_EQ(h.pending_count(), 0u) << "the thrown frame's budget was given back";
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_accepted, 3u);
  EXPECT_EQ(w.stats().frames_written, 3u);
  EXPECT_EQ(decode_all(buffer->contents()).size(), 3u);
}

// The first write is held at a gate and succeeds; every later one fails.
struct gated_then_failing_sink {
  gated_sink inner;
  int calls = 0;
  absl::StatusOr<std::size_t> write(std::span<const const_buffer> b) {
    if (++calls == 1) return inner.write(b);
    return absl::UnavailableError("injected: peer reset");
  }
};

// A sink failure while producers are queued and one waits for budget, with
// the batcher holding a refused frame over for the next batch.
TEST(WriterFailure, FailureCountsTheBatchTheCarriedFrameAndTheQueue) {
  gated_sink gated;
  auto s = gated.s;
  writer_options o;
  o.max_pending_frames = 4;
  o.backpressure_timeout = absl::Hours(1);
  basic_writer<mpsc_ring<outbound_frame>, gated_then_failing_sink, condvar_backpressure,
               count_batcher>
      w(gated_then_failing_sink{std::move(gated)}, o, condvar_backpressure{}, count_batcher(2));
  auto h = w.handle();
  std::atomic<std::uint64_t> ok{0};
  ASSERT_TRUE(h.send(make_frame(0, "A")).ok());
  ++ok;
  s->g.await_arrivals(1);  // A is inside the first write
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(h.send(make_frame(i, "BCD")).ok());  // B, C, D queued: pending 4
    ++ok;
  }
  absl::Status waiter_status;
  std::thread waiter([&] {
    waiter_status = h.send(make_frame(4, "E"));
    if (waiter_status.ok()) ++ok;
  });
  while (w.stats().backpressure_waits < 1) std::this_thread::yield();
  // A is written; B and C make a batch of two that fails; D was refused by the
  // batcher and carried over. E either got A's budget (and is lost) or wakes
  // with the failure.
  s->g.open();
  waiter.join();
  EXPECT_TRUE(waiter_status.ok() || waiter_status.code() == absl::StatusCode::kUnavailable)
      << waiter_status;
  const absl::Status final_status = w.close();
  EXPECT_EQ(final_status.code(), absl::StatusCode::kUnavailable) << final_status;
  EXPECT_TRUE(contains(final_status, "peer reset")) << final_status;
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, ok.load());
  EXPECT_EQ(st.frames_written, 1u);
  EXPECT_EQ(st.frames_lost, ok.load() - 1);
  EXPECT_TRUE(contains(final_status, absl::StrCat(st.frames_lost, " accepted frame(s)")))
      << final_status;
}

// Many producers, a small bound (so some always wait), and a sink that fails
// at a random byte with random short writes before: every run keeps
// accepted == written + lost, with accepted counted by the test.
TEST(WriterFailure, RandomFailuresUnderLoadKeepTheAccountingExact) {
  const int rounds = kTsan ? 10 : 40;
  for (int round = 0; round < rounds; ++round) {
    memory_sink mem;
    auto buffer = mem.buffer();
    const std::uint64_t fail_at = 200 + 97 * round;
    fault_injecting_sink sink(std::move(mem),
                              {fault::random_short_writes(round, 64),
                               fault::fail_after_bytes(fail_at, absl::UnavailableError("gone"))});
    writer_options o;
    o.max_pending_frames = 4;
    o.backpressure_timeout = absl::Hours(1);
    basic_writer<mpsc_ring<outbound_frame>, fault_injecting_sink<memory_sink>, condvar_backpressure,
                 count_batcher>
        w(std::move(sink), o);
    std::atomic<std::uint64_t> ok{0};
    std::vector<std::thread> producers;
    for (int p = 0; p < 4; ++p) {
      producers.emplace_back([&, p] {
        auto h = w.handle();
        for (std::uint32_t i = 0;; ++i) {
          const absl::Status st = h.send(make_frame(p * 100000 + i, std::string(i % 23, 'p')));
          if (!st.ok()) {
            EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
            return;
          }
          ++ok;
        }
      });
    }
    for (std::thread& t : producers) t.join();
    EXPECT_EQ(w.close().code(), absl::StatusCode::kUnavailable);
    const writer_stats st = w.stats();
    ASSERT_EQ(st.frames_accepted, ok.load()) << "round " << round;
    ASSERT_EQ(st.frames_accepted, st.frames_written + st.frames_lost) << "round " << round;
    EXPECT_EQ(st.bytes_written, fail_at) << "round " << round;
    // The frames counted written are exactly the whole frames in the stream.
    std::string bytes = buffer->contents();
    std::size_t whole = 0, at = 0;
    while (at + kHeaderSize <= bytes.size()) {
      const std::size_t len =
          decode_header(std::as_bytes(std::span(bytes)).subspan(at))->payload_length;
      if (at + kHeaderSize + len > bytes.size()) break;
      at += kHeaderSize + len;
      ++whole;
    }
    EXPECT_EQ(whole, st.frames_written) << "round " << round;
  }
}

TEST(WriterFailure, SendWaitsOnTheByteBoundAndIsWokenWhenBytesFree) {
  gated_sink gated;
  auto s = gated.s;
  writer_options o;
  o.max_pending_bytes = 2 * (kHeaderSize + 10);
  o.backpressure_timeout = absl::Hours(1);
  basic_writer<mpsc_ring<outbound_frame>, gated_sink, condvar_backpressure, count_batcher> w(
      std::move(gated), o);
  auto h = w.handle();
  const std::string ten(10, 'z');
  ASSERT_TRUE(h.send(make_frame(1, ten)).ok());
  ASSERT_TRUE(h.send(make_frame(2, ten)).ok());
  EXPECT_EQ(h.pending_count(), 2u) << "far below max_pending_frames: the byte bound holds";
  absl::Status third;
  std::thread producer([&] { third = h.send(make_frame(3, ten)); });
  while (w.stats().backpressure_waits < 1) std::this_thread::yield();
  EXPECT_TRUE(h.is_backpressure_active());
  s->g.open();  // the writer writes frames 1 and 2 and gives their bytes back
  producer.join();
  EXPECT_TRUE(third.ok()) << third;
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_written, 3u);
  EXPECT_EQ(w.stats().backpressure_timeouts, 0u);
}

// Policies that throw on the writer thread: the writer fails with Internal
// naming what(), counts what it could not write, and the process lives on.
struct throwing_sink {
  int throw_on_call;
  std::function<void()> thrower;
  memory_sink inner;
  int calls = 0;
  absl::StatusOr<std::size_t> write(std::span<const const_buffer> b) {
    if (++calls == throw_on_call) thrower();
    return inner.write(b);
  }
};

TEST(WriterFailure, ASinkThatThrowsFailsTheWriterWithInternal) {
  struct custom {};
  const std::vector<std::pair<std::function<void()>, std::string>> cases = {
      {[] { throw std::runtime_error("sink exploded"); }, "sink exploded"},
      {[] { throw std::bad_alloc(); }, "bad_alloc"},
      {[] { throw custom{}; }, "not derived from std::exception"},
  };
  for (const auto& [thrower, what] : cases) {
    throwing_sink sink{2, thrower, memory_sink{}};
    auto out = sink.inner.buffer();
    writer_options o;
    o.backpressure_timeout = absl::Hours(1);
    basic_writer<mpsc_ring<outbound_frame>, throwing_sink, condvar_backpressure, count_batcher> w(
        std::move(sink), o);
    auto h = w.handle();
    std::uint64_t ok = 0;
    ASSERT_TRUE(h.send(make_frame(1, "first")).ok());
    ++ok;
    ASSERT_TRUE(w.flush().ok());  // batch 1 written: the next write throws
    absl::Status last;
    for (int i = 0; i < 1000 && (last = h.send(make_frame(2, "more"))).ok(); ++i) ++ok;
    const absl::Status final_status = w.close();
    EXPECT_EQ(final_status.code(), absl::StatusCode::kInternal) << final_status;
    EXPECT_TRUE(contains(final_status, what)) << final_status;
    const writer_stats st = w.stats();
    EXPECT_EQ(st.frames_accepted, ok);
    EXPECT_EQ(st.frames_written, 1u);
    EXPECT_EQ(st.frames_lost, ok - 1);
    EXPECT_EQ(decode_all(out->contents()).size(), 1u);
  }
}

}  // namespace
}  // namespace funnel
