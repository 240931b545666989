// basic_writer's lifecycle under concurrency: close() racing producers and
// other close() calls, the shutdown handshake's back-out path, moves, and a
// writer destroyed while a producer waits on it. Run under TSan in CI.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
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
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing_internal::decode_all;
using testing_internal::gated_sink;
using testing_internal::kTsan;
using testing_internal::make_frame;
using testing_internal::wire_bytes;

using memory_writer =
    basic_writer<mpsc_ring<outbound_frame>, memory_sink, sleep_backpressure, count_batcher>;

// Defect: two close() calls could both join the writer thread.
TEST(WriterShutdown, ConcurrentClosesAllReturnTheSameStatus) {
  const int rounds = kTsan ? 50 : 300;
  for (int round = 0; round < rounds; ++round) {
    memory_sink sink;
    auto buffer = sink.buffer();
    memory_writer w(std::move(sink));
    auto h = w.handle();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(h.send(make_frame(i, "x")).ok());
    std::atomic<bool> go{false};
    std::vector<absl::Status> results(4, absl::UnknownError("not run"));
    std::vector<std::thread> closers;
    for (int t = 0; t < 4; ++t) {
      closers.emplace_back([&, t] {
        while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
        results[t] = t % 2 ? w.close() : w.close(absl::InfiniteFuture());
      });
    }
    go.store(true, std::memory_order_release);
    for (std::thread& t : closers) t.join();
    for (const absl::Status& st : results) ASSERT_TRUE(st.ok()) << st << " round " << round;
    ASSERT_EQ(decode_all(buffer->contents()).size(), 10u);
  }
}

// The same for a failed writer: every close() returns the same failure.
TEST(WriterShutdown, ConcurrentClosesOfAFailedWriterAgree) {
  struct dead_sink {
    absl::StatusOr<std::size_t> write(std::span<const const_buffer>) {
      return absl::UnavailableError("injected: dead");
    }
  };
  basic_writer<mpsc_ring<outbound_frame>, dead_sink, sleep_backpressure, count_batcher> w(
      dead_sink{});
  for (int i = 0; i < 5; ++i) (void)w.handle().send(make_frame(i, "x"));
  std::vector<absl::Status> results(3);
  std::vector<std::thread> closers;
  for (int t = 0; t < 3; ++t) closers.emplace_back([&, t] { results[t] = w.close(); });
  for (std::thread& t : closers) t.join();
  EXPECT_EQ(results[0].code(), absl::StatusCode::kUnavailable) << results[0];
  EXPECT_EQ(results[1], results[0]);
  EXPECT_EQ(results[2], results[0]);
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, st.frames_written + st.frames_lost);
}

// close() while producers send and others wait for budget: each waiting
// producer wakes with FailedPrecondition, every frame accepted before the
// close is written, in per-producer order, and the counts add up.
template <class Backpressure>
void close_under_load(int rounds) {
  for (int round = 0; round < rounds; ++round) {
    memory_sink sink;
    auto buffer = sink.buffer();
    writer_options o;
    o.max_pending_frames = 3;  // 4 producers: some always wait
    o.backpressure_timeout = absl::Hours(1);
    basic_writer<mpsc_ring<outbound_frame>, memory_sink, Backpressure, count_batcher> w(
        std::move(sink), o);
    constexpr int kProducers = 4;
    std::vector<std::uint32_t> sent(kProducers, 0);
    std::vector<absl::Status> last(kProducers);
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        auto h = w.handle();
        for (std::uint32_t i = 0;; ++i) {
          absl::Status st = h.send(make_frame(p << 24 | i, "load"));
          if (!st.ok()) {
            last[p] = st;
            return;
          }
          sent[p] = i + 1;
        }
      });
    }
    while (w.stats().frames_accepted < 20) std::this_thread::yield();
    ASSERT_TRUE(w.close().ok()) << "round " << round;
    for (std::thread& t : producers) t.join();
    std::uint64_t ok = 0;
    for (int p = 0; p < kProducers; ++p) {
      ASSERT_EQ(last[p].code(), absl::StatusCode::kFailedPrecondition) << last[p];
      ok += sent[p];
    }
    const writer_stats st = w.stats();
    ASSERT_EQ(st.frames_accepted, ok) << "round " << round;
    ASSERT_EQ(st.frames_written, ok) << "round " << round;
    ASSERT_EQ(st.frames_lost, 0u);
    std::vector<std::uint32_t> next(kProducers, 0);
    for (const decoded_frame& f : decode_all(buffer->contents())) {
      const std::uint32_t p = f.header.request_id >> 24, i = f.header.request_id & 0xFFFFFF;
      ASSERT_LT(p, static_cast<std::uint32_t>(kProducers));
      ASSERT_EQ(i, next[p]++) << "producer " << p << " out of order, round " << round;
    }
    for (int p = 0; p < kProducers; ++p) ASSERT_EQ(next[p], sent[p]);
  }
}

TEST(WriterShutdown, CloseWhileProducersSendAndWaitCondvar) {
  close_under_load<condvar_backpressure>(kTsan ? 20 : 100);
}
TEST(WriterShutdown, CloseWhileProducersSendAndWaitSleep) {
  close_under_load<sleep_backpressure>(kTsan ? 20 : 100);
}

// A Backpressure that, once the producer has its budget, holds it until the
// test says so: it puts a producer exactly inside the shutdown handshake's
// window (budget taken, state not yet re-read).
struct hold_after_acquire_backpressure {
  static inline std::function<void()> on_acquired;
  bool wait(absl::FunctionRef<bool()> ready, absl::Time deadline) {
    while (!ready()) {
      if (absl::Now() >= deadline) return false;
      std::this_thread::yield();
    }
    if (on_acquired) on_acquired();
    return true;
  }
  void notify() {}
};

// The producer back-out path: budget was taken, then the writer closed. The
// producer gives its budget back and gets FailedPrecondition; its frame is not
// counted; close() does not wait for it for ever.
TEST(WriterShutdown, AProducerInsideTheHandshakeWindowBacksOut) {
  gated_sink gated;
  auto s = gated.s;
  writer_options o;
  o.max_pending_frames = 1;
  o.backpressure_timeout = absl::Hours(1);
  basic_writer<mpsc_ring<outbound_frame>, gated_sink, hold_after_acquire_backpressure,
               count_batcher>
      w(std::move(gated), o);
  auto h = w.handle();
  absl::Notification acquired, closing_seen;
  hold_after_acquire_backpressure::on_acquired = [&] {
    acquired.Notify();
    closing_seen.WaitForNotification();
  };
  ASSERT_TRUE(h.send(make_frame(1, "first")).ok());
  s->g.await_arrivals(1);
  absl::Status second;
  std::thread producer([&] { second = h.send(make_frame(2, "second")); });
  while (w.stats().backpressure_waits < 1) std::this_thread::yield();  // on the wait path
  s->g.open();  // frame 1 written: its budget goes to the waiting producer
  acquired.WaitForNotification();
  absl::Status closed;
  std::thread closer([&] { closed = w.close(); });
  // The closer has stopped admission once a fresh try_send says "closed".
  while (h.try_send(make_frame(3, "probe")).code() != absl::StatusCode::kFailedPrecondition) {
    std::this_thread::yield();
  }
  closing_seen.Notify();
  producer.join();
  closer.join();
  hold_after_acquire_backpressure::on_acquired = nullptr;
  EXPECT_EQ(second.code(), absl::StatusCode::kFailedPrecondition) << second;
  EXPECT_TRUE(closed.ok()) << closed;
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, 1u);
  EXPECT_EQ(st.frames_written, 1u);
  EXPECT_EQ(h.pending_count(), 0u) << "the budget was given back";
  absl::MutexLock lock(&s->mu);
  EXPECT_EQ(s->data, wire_bytes(1, "first"));
}

TEST(WriterShutdown, MoveConstructionAndAssignment) {
  memory_sink sink1, sink2;
  auto buffer1 = sink1.buffer(), buffer2 = sink2.buffer();
  memory_writer a(std::move(sink1));
  auto ha = a.handle();
  ASSERT_TRUE(ha.send(make_frame(1, "a")).ok());

  memory_writer b(std::move(a));
  EXPECT_EQ(a.close().code(),
            absl::StatusCode::kFailedPrecondition);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(a.flush().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a.stats().frames_accepted, 0u);
  EXPECT_EQ(a.handle().send(make_frame(9, "no")).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(ha.send(make_frame(2, "b")).ok()) << "handles belong to the writer, not the object";
  ASSERT_TRUE(b.handle().send(make_frame(3, "c")).ok());

  memory_writer c(std::move(sink2));
  auto hc = c.handle();
  for (int i = 10; i < 13; ++i) ASSERT_TRUE(hc.send(make_frame(i, "old")).ok());
  c = std::move(b);  // closes c's writer first: its frames are all written
  EXPECT_EQ(buffer2->contents(),
            wire_bytes(10, "old") + wire_bytes(11, "old") + wire_bytes(12, "old"));
  EXPECT_EQ(hc.send(make_frame(13, "late")).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(c.handle().send(make_frame(4, "d")).ok());
  ASSERT_TRUE(c.close().ok());
  EXPECT_EQ(buffer1->contents(),
            wire_bytes(1, "a") + wire_bytes(2, "b") + wire_bytes(3, "c") + wire_bytes(4, "d"));
  EXPECT_EQ(c.stats().frames_written, 4u);
}

// A producer blocked in send() while another thread closes and destroys the
// writer: it wakes with FailedPrecondition while the writer is still busy
// (the destructor is still waiting for the write), and nothing is lost.
template <class Backpressure>
void destroy_while_blocked() {
  gated_sink gated;
  auto s = gated.s;
  writer_options o;
  o.max_pending_frames = 1;
  o.backpressure_timeout = absl::Hours(1);
  o.shutdown_timeout = absl::InfiniteDuration();
  using writer = basic_writer<mpsc_ring<outbound_frame>, gated_sink, Backpressure, count_batcher>;
  auto w = std::make_unique<writer>(std::move(gated), o);
  auto h = w->handle();
  ASSERT_TRUE(h.send(make_frame(1, "held")).ok());
  s->g.await_arrivals(1);
  absl::Status blocked;
  std::thread producer([&] { blocked = h.send(make_frame(2, "blocked")); });
  while (w->stats().backpressure_waits < 1) std::this_thread::yield();
  std::thread destroyer([&] { w.reset(); });
  producer.join();  // returns although the writer is still inside write()
  EXPECT_EQ(blocked.code(), absl::StatusCode::kFailedPrecondition) << blocked;
  s->g.open();
  destroyer.join();
  EXPECT_EQ(h.send(make_frame(3, "after")).code(), absl::StatusCode::kFailedPrecondition);
  absl::MutexLock lock(&s->mu);
  EXPECT_EQ(s->data, wire_bytes(1, "held"));
}

TEST(WriterShutdown, ProducerBlockedWhileTheWriterIsDestroyedCondvar) {
  destroy_while_blocked<condvar_backpressure>();
}
TEST(WriterShutdown, ProducerBlockedWhileTheWriterIsDestroyedSleep) {
  destroy_while_blocked<sleep_backpressure>();
}

}  // namespace
}  // namespace funnel
