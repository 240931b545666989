// The Observer (funnel/observer.h) and summary_observer: reports add up to
// stats() exactly (memory sink, real socketpair; frame queue and byte ring),
// flush() returns only after the observer has seen what it waited for, queue
// depth and producer waits under forced backpressure, a throwing observer
// fails the writer, no_observer is empty, and summary_observer's counts and
// percentiles from known latencies.
#include "funnel/observer.h"

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/detail/observation.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/observer/summary_observer.h"
#include "funnel/policies/queue/byte_ring.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/policies/sink/posix_writev_sink.h"
#include "funnel/policy_set.h"
#include "funnel/procwire/frame.h"
#include "funnel/procwire/preset.h"
#include "gtest/gtest.h"
#include "tests/posix_test_util.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using posix_test::fd_pair;
using posix_test::make_socketpair;
using posix_test::reader_thread;
using posix_test::wait_until;
using testing_internal::gated_sink;
using testing_internal::make_frame;

// Records every report; the test reads them after close() or flush().
struct recording_observer {
  struct log {
    absl::Mutex mu;
    std::vector<batch_report> reports ABSL_GUARDED_BY(mu);
  };
  std::shared_ptr<log> l = std::make_shared<log>();

  void on_batch(const batch_report& r) {
    absl::MutexLock lock(&l->mu);
    l->reports.push_back(r);
  }
  std::vector<batch_report> reports() const {
    absl::MutexLock lock(&l->mu);
    return l->reports;
  }
};

struct totals {
  std::uint64_t batches = 0, frames = 0, bytes = 0, write_calls = 0, producer_waits = 0;
  absl::Duration write_time = absl::ZeroDuration();
};
totals sum(const std::vector<batch_report>& reports) {
  totals t;
  for (const batch_report& r : reports) {
    ++t.batches;
    t.frames += r.frames;
    t.bytes += r.bytes;
    t.write_calls += r.write_calls;
    t.producer_waits += r.producer_waits;
    t.write_time += r.write_time;
    EXPECT_GE(r.frames, 1u);
    EXPECT_GE(r.write_calls, 1u);
    EXPECT_LE(r.max_write_call, r.write_time);
  }
  return t;
}

void expect_sums_match(const std::vector<batch_report>& reports, const writer_stats& s) {
  const totals t = sum(reports);
  EXPECT_EQ(t.batches, s.batches);
  EXPECT_EQ(t.frames, s.frames_written);
  EXPECT_EQ(t.bytes, s.bytes_written);
  EXPECT_EQ(t.write_calls, s.write_calls);
  EXPECT_EQ(t.producer_waits, s.backpressure_waits);
  EXPECT_GT(t.write_time, absl::ZeroDuration());
}

using frame_queue = mpsc_ring<outbound_frame>;
using ring_queue = byte_ring<outbound_frame, byte_ring_config{.by_reference_above = 512}>;

// Several producers, frames of several sizes (the byte ring moves the large
// ones in by reference).
template <class Writer>
void send_from_producers(Writer& w, int producers, int per_producer) {
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&w, p, per_producer] {
      auto h = w.handle();
      for (int i = 0; i < per_producer; ++i) {
        const std::size_t size = (i % 7 == 0) ? 900 : 16 + static_cast<std::size_t>(i % 50);
        ASSERT_TRUE(h.send(make_frame(static_cast<std::uint32_t>(p * per_producer + i),
                                      std::string(size, 'a' + p)))
                        .ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
}

template <class Q>
class ObserverSums : public ::testing::Test {};
using queues = ::testing::Types<frame_queue, ring_queue>;
TYPED_TEST_SUITE(ObserverSums, queues);

TYPED_TEST(ObserverSums, MemorySinkReportsSumToStats) {
  recording_observer obs;
  writer_options o;
  o.max_pending_frames = 64;
  basic_writer<TypeParam, memory_sink, condvar_backpressure, count_batcher, recording_observer> w(
      memory_sink{}, o, {}, count_batcher(16), obs);
  send_from_producers(w, 4, 2000);
  ASSERT_TRUE(w.close().ok());
  const writer_stats s = w.stats();
  EXPECT_EQ(s.frames_written, 8000u);
  expect_sums_match(obs.reports(), s);
}

TYPED_TEST(ObserverSums, SocketpairReportsSumToStats) {
  fd_pair p = make_socketpair();
  reader_thread reader(p.read_end.get(), p.write_end);
  recording_observer obs;
  writer_options o;
  o.max_pending_frames = 64;
  basic_writer<TypeParam, posix_writev_sink, condvar_backpressure, count_batcher,
               recording_observer>
      w(posix_writev_sink(p.write_end.get()), o, {}, count_batcher(16), obs);
  send_from_producers(w, 3, 1500);
  ASSERT_TRUE(w.close().ok());
  const std::string received = reader.close_and_join();
  const writer_stats s = w.stats();
  EXPECT_EQ(s.frames_written, 4500u);
  EXPECT_EQ(received.size(), s.bytes_written);
  expect_sums_match(obs.reports(), s);
}

TYPED_TEST(ObserverSums, FlushReturnsAfterTheObserverSawItsFrames) {
  recording_observer obs;
  basic_writer<TypeParam, memory_sink, condvar_backpressure, count_batcher, recording_observer> w(
      memory_sink{}, writer_options{}, {}, count_batcher{}, obs);
  auto h = w.handle();
  for (std::uint32_t round = 1; round <= 20; ++round) {
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(h.send(make_frame(round, "payload")).ok());
    ASSERT_TRUE(w.flush().ok());
    EXPECT_GE(sum(obs.reports()).frames, round * 10u);
  }
  ASSERT_TRUE(w.close().ok());
}

// The writer is held inside the first batch's write; three frames queue up
// behind it and a fourth send waits for budget.
TEST(Observer, QueueDepthAndProducerWaits) {
  gated_sink sink;
  auto state = sink.s;
  recording_observer obs;
  writer_options o;
  o.max_pending_frames = 4;
  o.backpressure_timeout = absl::InfiniteDuration();
  basic_writer<frame_queue, gated_sink, condvar_backpressure, count_batcher, recording_observer> w(
      sink, o, {}, count_batcher(2), obs);
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(1, "first")).ok());
  state->g.await_arrivals(1);  // batch {1} taken, its write blocked
  for (std::uint32_t i = 2; i <= 4; ++i) ASSERT_TRUE(h.send(make_frame(i, "queued")).ok());
  std::thread waiter([&] { EXPECT_TRUE(h.send(make_frame(5, "waits")).ok()); });
  ASSERT_TRUE(wait_until([&] { return w.stats().backpressure_waits == 1; }));
  state->g.open();
  waiter.join();
  ASSERT_TRUE(w.close().ok());

  const std::vector<batch_report> reports = obs.reports();
  ASSERT_GE(reports.size(), 3u);
  EXPECT_EQ(reports[0].frames, 1u);
  EXPECT_EQ(reports[0].queue_depth, 0u);     // nothing was queued when it was taken
  EXPECT_EQ(reports[0].producer_waits, 1u);  // the fifth send waited during its write
  EXPECT_EQ(reports[1].frames, 2u);          // {2, 3}: count_batcher(2)
  EXPECT_GE(reports[1].queue_depth, 1u);     // frame 4 (and maybe 5) behind it
  expect_sums_match(reports, w.stats());
}

// The example of docs/custom-policies.md, "An Observer, briefly".
// [slow-batch-counter]
// Counts batches over 1 ms of write time; another thread reads `slow`.
struct slow_batch_counter {
  std::shared_ptr<std::atomic<std::uint64_t>> slow =
      std::make_shared<std::atomic<std::uint64_t>>(0);
  void on_batch(const funnel::batch_report& r) {
    // Relaxed: a statistic; nothing else is published through it.
    if (r.write_time > absl::Milliseconds(1)) slow->fetch_add(1, std::memory_order_relaxed);
  }
};
// [slow-batch-counter]

// A sink whose every write takes at least 2 ms: every batch is slow.
struct slow_sink {
  memory_sink inner;
  absl::StatusOr<std::size_t> write(std::span<const const_buffer> b) {
    absl::SleepFor(absl::Milliseconds(2));
    return inner.write(b);
  }
};

TEST(Observer, DocumentedSlowBatchCounterCountsSlowBatches) {
  slow_batch_counter counter;
  basic_writer<frame_queue, slow_sink, condvar_backpressure, count_batcher, slow_batch_counter> w(
      slow_sink{}, writer_options{}, {}, count_batcher{}, counter);
  auto h = w.handle();
  for (std::uint32_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(h.send(make_frame(i, "slow")).ok());
    ASSERT_TRUE(w.flush().ok());  // one batch each
  }
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(counter.slow->load(), w.stats().batches);
  EXPECT_EQ(w.stats().batches, 3u);
}

struct throwing_observer {
  void on_batch(const batch_report&) { throw std::runtime_error("observer broke"); }
};

TEST(Observer, ThrowingObserverFailsTheWriterWithInternal) {
  basic_writer<frame_queue, memory_sink, condvar_backpressure, count_batcher, throwing_observer> w(
      memory_sink{});
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(1, "one")).ok());
  ASSERT_TRUE(wait_until([&] { return !w.status().ok(); }));
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInternal);
  EXPECT_NE(w.status().message().find("observer broke"), std::string::npos) << w.status();
  EXPECT_FALSE(h.send(make_frame(2, "two")).ok());
  const absl::Status closed = w.close();
  EXPECT_EQ(closed.code(), absl::StatusCode::kInternal);
  const writer_stats s = w.stats();
  EXPECT_EQ(s.frames_accepted, s.frames_written + s.frames_lost);
  EXPECT_EQ(s.frames_written, 1u);  // the batch was written before the report
}

TEST(Observer, NoObserverIsEmptyAndUntimed) {
  static_assert(std::is_empty_v<detail::batch_observation<no_observer>>);
  static_assert(
      std::is_same_v<decltype(std::declval<detail::batch_observation<no_observer>&>().timing()),
                     detail::untimed>);
  static_assert(!detail::kObserved<no_observer>);
  static_assert(detail::kObserved<summary_observer>);
  static_assert(observer<summary_observer> && observer<no_observer>);
  static_assert(!observer<memory_sink>);
}

// The policy algebra's fifth axis.
static_assert(std::is_same_v<with<procwire_preset, summary_observer>,
                             with_observer<procwire_preset, summary_observer>>);
static_assert(
    std::is_same_v<with<procwire_preset, summary_observer>::observer_type, summary_observer>);
static_assert(std::is_same_v<writer_for<with<procwire_preset, summary_observer>>::observer_type,
                             summary_observer>);
static_assert(std::is_same_v<with_observer<with<procwire_preset, summary_observer>, no_observer>,
                             procwire_preset>);
static_assert(std::is_same_v<procwire_preset::observer_type, no_observer>);

batch_report one_call(absl::Duration d, std::uint64_t frames = 1) {
  batch_report r;
  r.frames = frames;
  r.bytes = frames * 10;
  r.write_calls = 1;
  r.write_time = d;
  r.max_write_call = d;
  return r;
}

TEST(SummaryObserver, BucketsArePowersOfTwoNanoseconds) {
  EXPECT_EQ(summary_observer::bucket(absl::ZeroDuration()), 0);
  EXPECT_EQ(summary_observer::bucket(absl::Nanoseconds(1)), 0);
  EXPECT_EQ(summary_observer::bucket(absl::Nanoseconds(2)), 1);
  EXPECT_EQ(summary_observer::bucket(absl::Nanoseconds(3)), 1);
  EXPECT_EQ(summary_observer::bucket(absl::Nanoseconds(1023)), 9);
  EXPECT_EQ(summary_observer::bucket(absl::Nanoseconds(1024)), 10);
  EXPECT_EQ(summary_observer::bucket(absl::Hours(1000)), summary_observer::kBuckets - 1);
}

TEST(SummaryObserver, PercentilesFromKnownLatencies) {
  summary_observer obs;
  // 98 calls of 1000 ns ([512, 1024) ns), 2 of 1 ms ([2^19, 2^20) ns).
  for (int i = 0; i < 98; ++i) obs.on_batch(one_call(absl::Nanoseconds(1000)));
  for (int i = 0; i < 2; ++i) obs.on_batch(one_call(absl::Milliseconds(1)));
  const observer_summary s = obs.take_summary();
  EXPECT_EQ(s.batches, 100u);
  EXPECT_EQ(s.frames, 100u);
  EXPECT_EQ(s.bytes, 1000u);
  EXPECT_EQ(s.write_calls, 100u);
  EXPECT_EQ(s.p50_write_call, absl::Nanoseconds(1024));  // its bucket's upper bound
  EXPECT_EQ(s.p99_write_call, absl::Milliseconds(1));    // capped at the longest call
  EXPECT_EQ(s.max_write_call, absl::Milliseconds(1));
  EXPECT_EQ(s.write_time, absl::Nanoseconds(98 * 1000) + absl::Milliseconds(2));

  // The next interval starts empty.
  const observer_summary next = obs.take_summary();
  EXPECT_EQ(next.batches, 0u);
  EXPECT_EQ(next.p99_write_call, absl::ZeroDuration());
}

TEST(SummaryObserver, SeveralCallsInABatchCountTheLongestAndTheMeanOfTheRest) {
  summary_observer obs;
  batch_report r = one_call(absl::Nanoseconds(2000));
  r.write_calls = 3;
  r.write_time = absl::Nanoseconds(3000);  // 2000 + 2 calls averaging 500
  r.queue_depth = 7;
  r.producer_waits = 2;
  obs.on_batch(r);
  const observer_summary s = obs.take_summary();
  EXPECT_EQ(s.write_calls, 3u);
  EXPECT_EQ(s.p50_write_call, absl::Nanoseconds(512));   // the two 500 ns calls
  EXPECT_EQ(s.p99_write_call, absl::Nanoseconds(2000));  // [1024, 2048), capped at max
  EXPECT_EQ(s.max_queue_depth, 7u);
  EXPECT_EQ(s.producer_waits, 2u);
}

TEST(SummaryObserver, CopiesShareOneStateAndFormatOneLine) {
  summary_observer obs;
  summary_observer copy = obs;
  summary_observer moved = std::move(copy);  // a move copies: both keep working
  moved.on_batch(one_call(absl::Microseconds(3), 5));
  copy.on_batch(one_call(absl::Microseconds(3), 5));
  const observer_summary s = obs.take_summary();
  EXPECT_EQ(s.frames, 10u);
  const std::string line = format_summary(s, 7);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_NE(line.find("frames/s"), std::string::npos) << line;
  EXPECT_NE(line.find("MB/s"), std::string::npos) << line;
  EXPECT_NE(line.find("p99 3.0us"), std::string::npos) << line;  // capped at the longest call
  EXPECT_NE(line.find("drops 7"), std::string::npos) << line;
}

TEST(SummaryObserver, InsideAWriterCountsWhatStatsCount) {
  summary_observer obs;
  writer_options o;
  o.max_pending_frames = 32;
  basic_writer<frame_queue, memory_sink, condvar_backpressure, count_batcher, summary_observer> w(
      memory_sink{}, o, {}, count_batcher(8), obs);
  // A monitor takes summaries while the producers run.
  std::atomic<bool> done{false};
  totals seen;
  std::thread monitor([&] {
    auto add = [&](const observer_summary& s) {
      seen.frames += s.frames;
      seen.bytes += s.bytes;
      seen.batches += s.batches;
      seen.write_calls += s.write_calls;
      seen.producer_waits += s.producer_waits;
    };
    while (!done.load(std::memory_order_acquire)) add(obs.take_summary());
    add(obs.take_summary());
  });
  send_from_producers(w, 4, 1000);
  ASSERT_TRUE(w.close().ok());
  done.store(true, std::memory_order_release);  // after close(): every batch is recorded
  monitor.join();
  const writer_stats s = w.stats();
  EXPECT_EQ(seen.frames, 4000u);
  EXPECT_EQ(seen.frames, s.frames_written);
  EXPECT_EQ(seen.bytes, s.bytes_written);
  EXPECT_EQ(seen.batches, s.batches);
  EXPECT_EQ(seen.write_calls, s.write_calls);
  EXPECT_EQ(seen.producer_waits, s.backpressure_waits);
}

}  // namespace
}  // namespace funnel
