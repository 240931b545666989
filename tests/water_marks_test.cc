// Water marks: condvar_backpressure({.low_water = f}) wakes waiting producers
// once pending has fallen to f of the bound, not after every batch. First the
// policy alone (notify(level) above the mark does not wake; at or below it,
// or with nothing pending, does), then through writers over mpsc_ring and
// byte_ring whose sink writes one frame per permit the test hands out.
//
// The negative checks ("still asleep") cannot fail spuriously: a waiter that
// nobody notifies never re-checks. They could pass spuriously only if a
// wrong wake-up came later than the check, which the positive checks after
// them would then not notice; the policy test counts wake-ups to close that.
#include <atomic>
#include <cmath>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/concepts.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/byte_ring.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/procwire/frame.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing_internal::decode_all;
using testing_internal::make_frame;

constexpr absl::Duration kPatience = absl::Seconds(20);

static_assert(backpressure<condvar_backpressure>);
static_assert(backpressure_with_level<condvar_backpressure>);

// Starts a thread waiting on `b` until `flag`; returns once the waiter has
// re-checked after announcing itself (it is asleep, or about to be).
struct waiter {
  explicit waiter(condvar_backpressure& b) {
    t = std::thread([&] {
      returned_ok = b.wait(
          [&] {
            calls.fetch_add(1, std::memory_order_relaxed);  // relaxed: progress count
            return flag.load(std::memory_order_acquire);    // pairs with release()
          },
          absl::Now() + kPatience);
      done.store(true, std::memory_order_release);
    });
    while (calls.load(std::memory_order_relaxed) < 2) std::this_thread::yield();
  }
  void release() { flag.store(true, std::memory_order_release); }
  void join() { t.join(); }

  std::atomic<bool> flag{false}, done{false};
  std::atomic<int> calls{0};
  bool returned_ok = false;
  std::thread t;
};

TEST(WaterMarks, ConfigIsClamped) {
  EXPECT_EQ(condvar_backpressure().low_water(), 1.0);
  EXPECT_EQ(condvar_backpressure({.low_water = 0.25}).low_water(), 0.25);
  EXPECT_EQ(condvar_backpressure({.low_water = 7}).low_water(), 1.0);
  EXPECT_EQ(condvar_backpressure({.low_water = -1}).low_water(), 0.0);
  EXPECT_EQ(condvar_backpressure({.low_water = std::nan("")}).low_water(), 1.0);
  condvar_backpressure b({.low_water = 0.5});
  condvar_backpressure moved(std::move(b));
  EXPECT_EQ(moved.low_water(), 0.5) << "the water mark survives the move into the writer";
}

TEST(WaterMarks, AboveTheMarkDoesNotWakeAtTheMarkDoes) {
  condvar_backpressure b({.low_water = 0.5});
  waiter w(b);
  w.release();
  b.notify(pending_level{.frames = 5, .max_frames = 8});  // 5/8 > 1/2: stays asleep
  b.notify(pending_level{.frames = 1, .max_frames = 8, .bytes = 900, .max_bytes = 1000});
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_FALSE(w.done.load(std::memory_order_acquire));
  EXPECT_EQ(w.calls.load(), 2) << "a waiter re-checked without a wake-up";
  EXPECT_EQ(b.wakeups(), 0u);
  b.notify(pending_level{.frames = 4, .max_frames = 8, .bytes = 500, .max_bytes = 1000});
  w.join();
  EXPECT_TRUE(w.returned_ok);
  EXPECT_EQ(b.wakeups(), 1u);
}

TEST(WaterMarks, NothingPendingAlwaysWakes) {
  condvar_backpressure b({.low_water = 0.0});
  waiter w(b);
  w.release();
  b.notify(pending_level{.frames = 1, .max_frames = 1000});
  EXPECT_EQ(b.wakeups(), 0u);
  b.notify(pending_level{.frames = 0, .max_frames = 1000, .bytes = 0, .max_bytes = 10});
  w.join();
  EXPECT_TRUE(w.returned_ok);
}

TEST(WaterMarks, DefaultWakesOnEveryBatchAndPlainNotifyAlwaysWakes) {
  condvar_backpressure every;  // low_water 1: the level is ignored
  waiter w1(every);
  w1.release();
  every.notify(pending_level{.frames = 8, .max_frames = 8});
  w1.join();
  EXPECT_TRUE(w1.returned_ok);

  condvar_backpressure low({.low_water = 0.0});
  waiter w2(low);
  w2.release();
  low.notify();  // close, failure, a producer backing out
  w2.join();
  EXPECT_TRUE(w2.returned_ok);
}

// A sink whose write() takes one permit, blocking until the test gives one.
struct stepped_sink {
  struct state {
    void give(int n) {
      absl::MutexLock lock(&mu);
      permits += n;
    }
    absl::Mutex mu;
    int permits ABSL_GUARDED_BY(mu) = 0;
    std::string data ABSL_GUARDED_BY(mu);
  };
  std::shared_ptr<state> s = std::make_shared<state>();

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    absl::MutexLock lock(&s->mu);
    s->mu.Await(absl::Condition(+[](int* p) { return *p > 0; }, &s->permits));
    --s->permits;
    for (const const_buffer& b : buffers) {
      s->data.append(reinterpret_cast<const char*>(b.data), b.size);
    }
    return total_size(buffers);
  }
};

template <class Q>
class WaterMarksWriter : public ::testing::Test {};
using Queues = ::testing::Types<mpsc_ring<outbound_frame>, byte_ring<outbound_frame>>;
TYPED_TEST_SUITE(WaterMarksWriter, Queues);

// Eight frames fill the bound (one in the blocked write); a ninth send waits.
// Batches of one frame bring pending to 7, 6, 5: above the mark (4), the
// producer sleeps on; the fourth batch reaches the mark and wakes it.
TYPED_TEST(WaterMarksWriter, ProducerWakesAtTheLowWaterMark) {
  stepped_sink sink;
  auto state = sink.s;
  using writer = basic_writer<TypeParam, stepped_sink, condvar_backpressure, count_batcher>;
  writer w(
      std::move(sink),
      {.max_pending_frames = 8, .max_pending_bytes = 1 << 16, .backpressure_timeout = kPatience},
      condvar_backpressure({.low_water = 0.5}), count_batcher(1));
  auto h = w.handle();
  for (std::uint32_t i = 0; i < 8; ++i) ASSERT_TRUE(h.send(make_frame(i, "x")).ok());
  std::atomic<bool> sent{false};
  std::thread producer([&] {
    EXPECT_TRUE(h.send(make_frame(8, "x")).ok());
    sent.store(true, std::memory_order_release);  // pairs with the acquire loads below
  });
  while (!h.is_backpressure_active() || w.stats().backpressure_waits == 0) {
    std::this_thread::yield();
  }
  for (std::uint64_t batch = 1; batch <= 3; ++batch) {
    state->give(1);
    while (w.stats().batches < batch) std::this_thread::yield();
  }
  absl::SleepFor(absl::Milliseconds(20));
  EXPECT_FALSE(sent.load(std::memory_order_acquire))
      << "woken above the low-water mark (5 of 8 pending, mark 4)";
  state->give(1);  // pending 4: the mark
  const absl::Time deadline = absl::Now() + kPatience;
  while (!sent.load(std::memory_order_acquire) && absl::Now() < deadline) {
    absl::SleepFor(absl::Microseconds(100));
  }
  EXPECT_TRUE(sent.load(std::memory_order_acquire)) << "not woken at the low-water mark";
  state->give(100);
  producer.join();
  ASSERT_TRUE(w.close().ok());
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_written, 9u);
  EXPECT_EQ(st.frames_accepted, 9u);
  absl::MutexLock lock(&state->mu);
  const auto frames = decode_all(state->data);
  ASSERT_EQ(frames.size(), 9u);
  for (std::uint32_t i = 0; i < 9; ++i) EXPECT_EQ(frames[i].header.request_id, i);
}

}  // namespace
}  // namespace funnel
