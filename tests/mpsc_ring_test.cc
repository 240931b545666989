// mpsc_ring on its own, without a writer: capacity, FIFO order, full and
// empty behaviour, blocking and waking in pop_wait, close, a multi-producer
// fuzz, and that the ring releases every payload it still holds.
#include "funnel/policies/queue/mpsc_ring.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/bytes.h"
#include "funnel/concepts.h"
#include "funnel/procwire/frame.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing_internal::gate;
using testing_internal::make_frame;

static_assert(queue<mpsc_ring<outbound_frame>>, "mpsc_ring models the Queue concept");

// Smaller under ThreadSanitizer, which slows atomics down by an order of magnitude.
using testing_internal::kTsan;

TEST(MpscRing, PushAndPopNeverThrow) {
  mpsc_ring<outbound_frame> q(4);
  outbound_frame f;
  static_assert(noexcept(q.try_push(f)));
  static_assert(noexcept(q.try_pop(f)));
  static_assert(noexcept(q.close()));
  static_assert(noexcept(q.capacity()));
}

TEST(MpscRing, CapacityIsRoundedUpToAPowerOfTwoOfAtLeastTwo) {
  const std::pair<std::size_t, std::size_t> cases[] = {
      {0, 2}, {1, 2}, {2, 2}, {3, 4}, {4, 4}, {5, 8}, {1000, 1024}, {1024, 1024}, {1025, 2048},
  };
  for (const auto& [asked, expected] : cases) {
    mpsc_ring<outbound_frame> q(asked);
    EXPECT_EQ(q.capacity(), expected) << "asked for " << asked;
  }
}

TEST(MpscRing, HoldsExactlyCapacityFrames) {
  for (std::size_t asked : {1u, 3u, 8u, 100u}) {
    mpsc_ring<outbound_frame> q(asked);
    const std::size_t cap = q.capacity();
    for (std::size_t i = 0; i < cap; ++i) {
      outbound_frame f = make_frame(static_cast<std::uint32_t>(i), "x");
      ASSERT_TRUE(q.try_push(f)) << "asked " << asked << ", push " << i;
      EXPECT_FALSE(f.valid()) << "an accepted frame is moved from";
    }
    outbound_frame extra = make_frame(999, "x");
    EXPECT_FALSE(q.try_push(extra)) << "asked " << asked;
  }
}

TEST(MpscRing, OneProducerIsFifoAcrossManyLaps) {
  mpsc_ring<outbound_frame> q(4);
  std::uint32_t next_push = 0, next_pop = 0;
  // Push 3 / pop 2, so the fill level and the position in the ring both move.
  for (int round = 0; round < 200; ++round) {
    for (int i = 0; i < 3 && next_push - next_pop < q.capacity(); ++i) {
      outbound_frame f = make_frame(next_push, std::to_string(next_push));
      ASSERT_TRUE(q.try_push(f));
      ++next_push;
    }
    for (int i = 0; i < 2; ++i) {
      outbound_frame out;
      ASSERT_TRUE(q.try_pop(out));
      EXPECT_EQ(out.header().request_id, next_pop);
      EXPECT_EQ(out.payload().as_string_view(), std::to_string(next_pop));
      ++next_pop;
    }
  }
  outbound_frame out;
  while (q.try_pop(out)) {
    EXPECT_EQ(out.header().request_id, next_pop);
    ++next_pop;
  }
  EXPECT_EQ(next_pop, next_push);
  EXPECT_GT(next_push, 100u);  // several laps of a 4-slot ring
}

TEST(MpscRing, TryPushOnAFullRingReturnsFalseAndLeavesTheFrameUntouched) {
  mpsc_ring<outbound_frame> q(2);
  outbound_frame a = make_frame(1, "a"), b = make_frame(2, "b");
  ASSERT_TRUE(q.try_push(a));
  ASSERT_TRUE(q.try_push(b));
  outbound_frame rejected = make_frame(3, "still mine");
  const std::byte* payload_data = rejected.payload().data();
  EXPECT_FALSE(q.try_push(rejected));
  ASSERT_TRUE(rejected.valid());
  EXPECT_EQ(rejected.header().request_id, 3u);
  EXPECT_EQ(rejected.payload().as_string_view(), "still mine");
  EXPECT_EQ(rejected.payload().data(), payload_data) << "the very same payload, not a copy";

  // Once a slot is free, the same frame goes in and comes out last.
  outbound_frame out;
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(out.header().request_id, 1u);
  ASSERT_TRUE(q.try_push(rejected));
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(out.header().request_id, 2u);
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(out.header().request_id, 3u);
  EXPECT_EQ(out.payload().as_string_view(), "still mine");
}

TEST(MpscRing, TryPopOnAnEmptyRingReturnsFalse) {
  mpsc_ring<outbound_frame> q(8);
  outbound_frame out;
  EXPECT_FALSE(q.try_pop(out));
  outbound_frame f = make_frame(1, "x");
  ASSERT_TRUE(q.try_push(f));
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_FALSE(q.try_pop(out)) << "empty again after the only frame was popped";
  EXPECT_EQ(out.header().request_id, 1u) << "a failed pop leaves the target alone";
}

TEST(MpscRing, PopWaitReturnsAReadyFrameAtOnceEvenWithAPastDeadline) {
  mpsc_ring<outbound_frame> q(8);
  outbound_frame f = make_frame(7, "ready");
  ASSERT_TRUE(q.try_push(f));
  outbound_frame out;
  ASSERT_TRUE(q.pop_wait(out, absl::InfinitePast()));
  EXPECT_EQ(out.header().request_id, 7u);
}

TEST(MpscRing, PopWaitOnAnEmptyRingReturnsFalseWhenTheDeadlineHasPassed) {
  mpsc_ring<outbound_frame> q(8);
  outbound_frame out;
  EXPECT_FALSE(q.pop_wait(out, absl::InfinitePast()));
  EXPECT_FALSE(q.pop_wait(out, absl::Now() - absl::Seconds(1)));
  const absl::Time start = absl::Now();
  EXPECT_FALSE(q.pop_wait(out, start + absl::Milliseconds(20)));
  // Generous lower bound: it waited, roughly until the deadline.
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(15));
  EXPECT_FALSE(out.valid());
}

TEST(MpscRing, PopWaitBlocksUntilAnotherThreadPushes) {
  for (int round = 0; round < 20; ++round) {
    mpsc_ring<outbound_frame> q(4);
    gate consumer_ready;
    std::atomic<bool> returned{false};
    outbound_frame out;
    bool popped = false;
    std::thread consumer([&] {
      consumer_ready.arrive();
      popped = q.pop_wait(out, absl::InfiniteFuture());
      // Release: pairs with the test's acquire load below.
      returned.store(true, std::memory_order_release);
    });
    consumer_ready.await_arrivals(1);
    while (!q.consumer_waiting()) std::this_thread::yield();  // inside pop_wait
    // Nothing was pushed and the ring is open: the consumer cannot have
    // returned (a conforming pop_wait with an infinite deadline waits).
    EXPECT_FALSE(returned.load(std::memory_order_acquire));
    outbound_frame f = make_frame(100 + round, "wake up");
    ASSERT_TRUE(q.try_push(f));
    consumer.join();
    EXPECT_TRUE(popped);
    ASSERT_TRUE(out.valid());
    EXPECT_EQ(out.header().request_id, static_cast<std::uint32_t>(100 + round));
    EXPECT_EQ(out.payload().as_string_view(), "wake up");
  }
}

TEST(MpscRing, CloseWakesAConsumerBlockedWithAnInfiniteDeadline) {
  for (int round = 0; round < 20; ++round) {
    mpsc_ring<outbound_frame> q(4);
    gate consumer_ready;
    bool popped = true;
    std::thread consumer([&] {
      consumer_ready.arrive();
      outbound_frame out;
      popped = q.pop_wait(out, absl::InfiniteFuture());
    });
    consumer_ready.await_arrivals(1);
    while (!q.consumer_waiting()) std::this_thread::yield();  // inside pop_wait
    q.close();
    consumer.join();  // hangs forever if close() does not wake it
    EXPECT_FALSE(popped);
  }
}

TEST(MpscRing, FramesQueuedBeforeCloseAreStillPoppedInOrder) {
  mpsc_ring<outbound_frame> q(8);
  for (std::uint32_t i = 1; i <= 3; ++i) {
    outbound_frame f = make_frame(i, "queued");
    ASSERT_TRUE(q.try_push(f));
  }
  q.close();
  q.close();  // idempotent
  outbound_frame out;
  for (std::uint32_t i = 1; i <= 3; ++i) {
    ASSERT_TRUE(q.pop_wait(out, absl::InfiniteFuture()));
    EXPECT_EQ(out.header().request_id, i);
  }
  EXPECT_FALSE(q.pop_wait(out, absl::InfiniteFuture())) << "closed and empty: returns at once";
  // The queue still accepts pushes after close (the writer decides who may push).
  outbound_frame late = make_frame(4, "late");
  ASSERT_TRUE(q.try_push(late));
  ASSERT_TRUE(q.pop_wait(out, absl::InfiniteFuture()));
  EXPECT_EQ(out.header().request_id, 4u);
}

// 4 producers on a small ring (so it is full often and wraps many times), one
// consumer sleeping in pop_wait: every frame arrives exactly once, each
// producer's frames in push order, payloads intact.
TEST(MpscRing, ManyProducersOneConsumerLoseNothingAndKeepPerProducerOrder) {
  constexpr std::uint32_t kProducers = 4;
  constexpr std::uint32_t kPerProducer = kTsan ? 20000 : 50000;
  mpsc_ring<outbound_frame> q(64);
  gate start;
  std::vector<std::thread> producers;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      start.wait_open();
      for (std::uint32_t seq = 0; seq < kPerProducer; ++seq) {
        const std::uint32_t id = (p << 24) | seq;
        outbound_frame f = make_frame(id, std::string_view(reinterpret_cast<const char*>(&id), 4));
        while (!q.try_push(f)) std::this_thread::yield();  // full: the consumer catches up
      }
    });
  }
  std::vector<std::uint32_t> next(kProducers, 0);
  std::uint64_t received = 0, bad = 0;
  std::thread consumer([&] {
    // With an infinite deadline, mpsc_ring's pop_wait returns false only once
    // the ring is closed and empty: the test closes it after the producers.
    outbound_frame out;
    while (q.pop_wait(out, absl::InfiniteFuture())) {
      ++received;
      const std::uint32_t id = out.header().request_id;
      const std::uint32_t p = id >> 24, seq = id & 0xFFFFFF;
      const bool good =
          p < kProducers && seq == next[p] &&
          out.payload().as_string_view() == std::string_view(reinterpret_cast<const char*>(&id), 4);
      if (!good) {
        if (bad++ == 0) {
          ADD_FAILURE() << "frame " << id << " out of order, duplicated or corrupt";
        }
        continue;
      }
      ++next[p];
    }
  });
  start.open();
  for (std::thread& t : producers) t.join();
  q.close();
  consumer.join();
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(received, std::uint64_t{kProducers} * kPerProducer);
  for (std::uint32_t p = 0; p < kProducers; ++p)
    EXPECT_EQ(next[p], kPerProducer) << "producer " << p;
  outbound_frame out;
  EXPECT_FALSE(q.try_pop(out)) << "nothing extra";
}

// A payload whose owner we can watch: use_count() counts the frames that
// still reference it.
struct watched_payload {
  std::shared_ptr<const std::string> owner = std::make_shared<const std::string>("watched");
  outbound_frame frame(std::uint32_t id) const {
    auto f = outbound_frame::make(1, 0, id, bytes::share(owner, std::as_bytes(std::span(*owner))));
    EXPECT_TRUE(f.ok()) << f.status();
    return *std::move(f);
  }
};

TEST(MpscRing, PopHandsOverThePayloadAndDestructionReleasesWhatIsLeft) {
  watched_payload w;
  {
    mpsc_ring<outbound_frame> q(8);
    for (std::uint32_t i = 0; i < 5; ++i) {
      outbound_frame f = w.frame(i);
      ASSERT_TRUE(q.try_push(f));
    }
    EXPECT_EQ(w.owner.use_count(), 1 + 5) << "the ring holds one reference per frame";

    // A rejected push neither takes nor drops a reference.
    mpsc_ring<outbound_frame> tiny(2);
    outbound_frame a = w.frame(10), b = w.frame(11), c = w.frame(12);
    ASSERT_TRUE(tiny.try_push(a));
    ASSERT_TRUE(tiny.try_push(b));
    EXPECT_EQ(w.owner.use_count(), 1 + 5 + 3);
    EXPECT_FALSE(tiny.try_push(c));
    EXPECT_EQ(w.owner.use_count(), 1 + 5 + 3);
    c = outbound_frame();
    EXPECT_EQ(w.owner.use_count(), 1 + 5 + 2);

    outbound_frame out;
    ASSERT_TRUE(q.try_pop(out));
    EXPECT_EQ(w.owner.use_count(), 1 + 5 + 2) << "a pop moves the reference out of the cell";
    out = outbound_frame();
    EXPECT_EQ(w.owner.use_count(), 1 + 4 + 2) << "and the cell keeps none";
    ASSERT_TRUE(q.pop_wait(out, absl::InfiniteFuture()));
    out = outbound_frame();
    EXPECT_EQ(w.owner.use_count(), 1 + 3 + 2);
    // q (3 frames) and tiny (2 frames) are destroyed here.
  }
  EXPECT_EQ(w.owner.use_count(), 1) << "the destructor released every frame still inside";
}

TEST(MpscRing, DestroyingAClosedRingReleasesItsFramesToo) {
  watched_payload w;
  {
    mpsc_ring<outbound_frame> q(4);
    for (std::uint32_t i = 0; i < 4; ++i) {
      outbound_frame f = w.frame(i);
      ASSERT_TRUE(q.try_push(f));
    }
    q.close();
    EXPECT_EQ(w.owner.use_count(), 5);
  }
  EXPECT_EQ(w.owner.use_count(), 1);
}

}  // namespace
}  // namespace funnel
