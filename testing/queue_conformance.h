// funnel/testing/queue_conformance.h
// -----------------------------------------------------------------------------
// The Queue conformance suite (funnel/concepts.h, "Queue") as a GoogleTest
// type-parameterized suite, `funnel::testing::QueueConformance<Q>`: every law
// of the concept, checked against your queue type. funnel's own models run it
// too (tests/conformance/queue_conformance_test.cc).
//
// Instantiate it in exactly one .cc file of your test binary (Bazel:
// //testing:queue_conformance):
//
//   #include "funnel/testing/queue_conformance.h"
//
//   namespace funnel::testing {
//   INSTANTIATE_TYPED_TEST_SUITE_P(MyTeam, QueueConformance, ::testing::Types<my_queue>);
//   }  // namespace funnel::testing
//
// Why in that namespace: GoogleTest pastes the suite name into identifiers,
// so `funnel::testing::QueueConformance` cannot be written qualified in the
// INSTANTIATE line; it must be found unqualified. Inside the namespace,
// spell GoogleTest's own namespace `::testing`. An optional fourth argument
// names the tests by type (see tests/conformance/queue_conformance_test.cc).
//
// Why exactly one .cc: this header *defines* the tests (test bodies and static
// registration objects), it does not just declare them. Include it only from
// the .cc file that instantiates the suite, never from another header or a
// library: a binary that includes it but instantiates nothing fails with
// "UninstantiatedTypeParameterizedTestSuite<QueueConformance>", and two
// instantiations with the same prefix collide.
//
// What it checks: capacity() >= the request; a failed try_push / try_pop
// leaves its argument untouched (payload neither copied nor dropped); FIFO
// across many laps; pop_wait wakes on a push from another thread, honours a
// past deadline, and returns false at once after close(), while frames pushed
// before (and after) close() still pop; four producers against one consumer
// lose, duplicate and reorder nothing (per producer); the queue keeps no
// reference to a popped payload and releases queued ones when destroyed.
// Q must model funnel::queue; a spinning pop_wait passes too.
//
// Timing: no assertion depends on it. Cross-thread tests synchronise with
// counters and start flags; deadlines (conformance::kPatience, 20 s) only turn
// a lost wake-up into a failure instead of a hang. The whole suite takes about
// a second per model (a few under TSan or on a loaded machine).
#ifndef FUNNEL_TESTING_QUEUE_CONFORMANCE_H_
#define FUNNEL_TESTING_QUEUE_CONFORMANCE_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/bytes.h"
#include "funnel/concepts.h"
#include "funnel/procwire/frame.h"
#include "funnel/testing/conformance_util.h"
#include "gtest/gtest.h"

namespace funnel::testing {

namespace conformance {

inline std::uint32_t id_of(const outbound_frame& f) { return f.header().request_id; }

// pop_wait until a frame arrives, tolerating the spurious false returns the
// concept allows; false only if `kPatience` passes with nothing (lost
// wake-up).
template <class Q>
bool pop_patiently(Q& q, outbound_frame& out) {
  const absl::Time deadline = absl::Now() + kPatience;
  while (!q.pop_wait(out, deadline)) {
    if (absl::Now() >= deadline) return false;
  }
  return true;
}

}  // namespace conformance

template <class Q>
class QueueConformance : public ::testing::Test {
  static_assert(queue<Q>,
                "funnel::testing::QueueConformance: the type must model funnel::queue "
                "(see funnel/concepts.h, \"Queue\")");
};
TYPED_TEST_SUITE_P(QueueConformance);

TYPED_TEST_P(QueueConformance, CapacityIsAtLeastTheRequest) {
  for (std::size_t n : {1, 2, 3, 4, 5, 63, 64, 65, 1000, 1024}) {
    TypeParam q(n);
    EXPECT_GE(q.capacity(), n) << "requested " << n;
  }
}

TYPED_TEST_P(QueueConformance, EmptyTryPopIsFalseAndLeavesTheTargetAlone) {
  TypeParam q(4);
  outbound_frame f;
  EXPECT_FALSE(q.try_pop(f));
  EXPECT_FALSE(f.valid());
  outbound_frame in = conformance::make_frame(7);
  ASSERT_TRUE(q.try_push(in));
  ASSERT_TRUE(q.try_pop(f));
  EXPECT_EQ(conformance::id_of(f), 7u);
  outbound_frame kept = conformance::make_frame(8);
  EXPECT_FALSE(q.try_pop(kept)) << "drained again";
  EXPECT_EQ(conformance::id_of(kept), 8u) << "a failed pop must not touch its target";
}

TYPED_TEST_P(QueueConformance, FullRejectsAndLeavesTheFrameUntouched) {
  TypeParam q(5);
  const std::size_t cap = q.capacity();
  for (std::size_t i = 0; i < cap; ++i) {
    outbound_frame f = conformance::make_frame(static_cast<std::uint32_t>(i));
    ASSERT_TRUE(q.try_push(f)) << "push " << i << " of capacity " << cap;
    EXPECT_FALSE(f.valid()) << "an accepted frame is moved from";
  }
  auto owner = std::make_shared<const std::string>("rejected payload");
  outbound_frame extra = conformance::make_frame(1000, conformance::shared_payload(owner));
  EXPECT_FALSE(q.try_push(extra)) << "capacity " << cap << " reached";
  EXPECT_TRUE(extra.valid());
  EXPECT_EQ(conformance::id_of(extra), 1000u);
  EXPECT_EQ(extra.payload().as_string_view(), "rejected payload");
  EXPECT_EQ(owner.use_count(), 2) << "a rejected push neither copies nor drops the payload";

  // One pop makes room for exactly one more frame.
  outbound_frame f;
  ASSERT_TRUE(q.try_pop(f));
  EXPECT_EQ(conformance::id_of(f), 0u);
  EXPECT_TRUE(q.try_push(extra));
  outbound_frame another = conformance::make_frame(2000);
  EXPECT_FALSE(q.try_push(another)) << "full again";
  EXPECT_TRUE(another.valid());

  for (std::size_t i = 1; i < cap; ++i) {
    ASSERT_TRUE(q.try_pop(f));
    EXPECT_EQ(conformance::id_of(f), i);
  }
  ASSERT_TRUE(q.try_pop(f));
  EXPECT_EQ(conformance::id_of(f), 1000u);
  EXPECT_FALSE(q.try_pop(f));
}

// Single producer, many laps around the storage, the fill level varying.
TYPED_TEST_P(QueueConformance, FifoAcrossManyLaps) {
  TypeParam q(4);
  std::uint32_t next_push = 0, next_pop = 0;
  constexpr std::uint32_t kTotal = 1000;
  for (std::uint32_t round = 0; next_pop < kTotal; ++round) {
    for (std::uint32_t k = 0; k < round % 4 + 1 && next_push < kTotal; ++k) {
      outbound_frame f = conformance::make_frame(next_push);
      if (!q.try_push(f)) break;
      ++next_push;
    }
    for (std::uint32_t k = 0; k < round % 3 + 1; ++k) {
      outbound_frame f;
      if (!q.try_pop(f)) break;
      ASSERT_EQ(conformance::id_of(f), next_pop);
      ++next_pop;
    }
  }
  EXPECT_EQ(next_push, kTotal);
}

// Ping-pong: the consumer blocks in pop_wait while the producer pushes from
// another thread, round after round, so both the "already there" and the
// "asleep, woken by the push" paths are taken.
TYPED_TEST_P(QueueConformance, PopWaitWakesOnPushFromAnotherThread) {
  TypeParam q(4);
  constexpr int kRounds = 200;
  conformance::counter consumed;
  std::thread consumer([&] {
    for (int i = 0; i < kRounds; ++i) {
      outbound_frame f;
      if (!conformance::pop_patiently(q, f)) {
        ADD_FAILURE() << "lost wake-up in round " << i;
        return;
      }
      EXPECT_EQ(conformance::id_of(f), static_cast<std::uint32_t>(i));
      consumed.bump();
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    outbound_frame f = conformance::make_frame(static_cast<std::uint32_t>(i));
    ASSERT_TRUE(q.try_push(f));
    if (!consumed.await_at_least(i + 1, absl::Now() + conformance::kPatience)) {
      ADD_FAILURE() << "consumer stuck in round " << i;
      break;
    }
  }
  consumer.join();
}

TYPED_TEST_P(QueueConformance, PopWaitWithAPastDeadlineReturnsPromptly) {
  TypeParam q(4);
  outbound_frame f;
  const absl::Time start = absl::Now();
  EXPECT_FALSE(q.pop_wait(f, absl::InfinitePast()));
  EXPECT_FALSE(q.pop_wait(f, start - absl::Milliseconds(1)));
  EXPECT_FALSE(q.pop_wait(f, absl::Now() + absl::Milliseconds(5)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5)) << "generous: a shared machine";
  EXPECT_FALSE(f.valid());
  // A ready frame is returned even when the deadline has passed.
  outbound_frame in = conformance::make_frame(3);
  ASSERT_TRUE(q.try_push(in));
  EXPECT_TRUE(q.pop_wait(f, absl::InfinitePast()));
  EXPECT_EQ(conformance::id_of(f), 3u);
}

TYPED_TEST_P(QueueConformance, CloseWakesABlockedConsumer) {
  // Many rounds, so that close() meets the consumer asleep in most of them;
  // the assertions hold whatever the interleaving.
  for (int round = 0; round < 50; ++round) {
    TypeParam q(4);
    conformance::counter entered;
    std::atomic<bool> closing{false};
    const absl::Time deadline = absl::Now() + conformance::kPatience;
    std::thread consumer([&] {
      outbound_frame f;
      entered.bump();
      // A false return before close() is a spurious one (allowed): wait
      // again. Acquire pairs with the release store before close().
      while (!q.pop_wait(f, deadline) && !closing.load(std::memory_order_acquire) &&
             absl::Now() < deadline) {
      }
      EXPECT_LT(absl::Now(), deadline) << "close() did not wake the consumer";
      EXPECT_FALSE(f.valid());
    });
    ASSERT_TRUE(entered.await_at_least(1, deadline));
    closing.store(true, std::memory_order_release);
    q.close();
    consumer.join();
    // Closed and empty: false at once, even with an infinite deadline.
    outbound_frame f;
    const absl::Time start = absl::Now();
    EXPECT_FALSE(q.pop_wait(f, absl::Now() + conformance::kPatience));
    EXPECT_LT(absl::Now() - start, conformance::kPatience / 2);
  }
}

TYPED_TEST_P(QueueConformance, FramesPushedBeforeCloseStillPop) {
  TypeParam q(8);
  for (std::uint32_t i = 0; i < 3; ++i) {
    outbound_frame f = conformance::make_frame(i);
    ASSERT_TRUE(q.try_push(f));
  }
  q.close();
  q.close();  // idempotent
  outbound_frame late = conformance::make_frame(3);
  EXPECT_TRUE(q.try_push(late)) << "the queue still accepts pushes after close";
  for (std::uint32_t i = 0; i < 4; ++i) {
    outbound_frame f;
    ASSERT_TRUE(q.pop_wait(f, absl::Now() + conformance::kPatience)) << i;
    EXPECT_EQ(conformance::id_of(f), i);
  }
  outbound_frame f;
  const absl::Time start = absl::Now();
  EXPECT_FALSE(q.pop_wait(f, absl::InfiniteFuture()));  // would hang if broken
  EXPECT_LT(absl::Now() - start, conformance::kPatience / 2);
  EXPECT_FALSE(q.try_pop(f));
}

// Four producers released together by one start flag, a small queue so that
// "full" is hit all the time, and a consumer that checks per-producer order,
// no loss and no duplication (each producer's sequence must arrive exactly as
// 0, 1, 2, ...).
TYPED_TEST_P(QueueConformance, MultiProducerFuzz) {
  constexpr std::uint32_t kProducers = 4;
  constexpr std::uint32_t kPerProducer = 20000;
  static constexpr std::array<std::string_view, kProducers> kPayloads = {"p0", "p-one", "",
                                                                         "producer three"};
  TypeParam q(64);
  std::atomic<bool> go{false};
  std::atomic<std::uint32_t> finished{0};
  std::vector<std::thread> producers;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      // Acquire: pairs with the release store below (nothing else to see;
      // it only lines the producers up).
      while (!go.load(std::memory_order_acquire)) {
      }
      for (std::uint32_t seq = 0; seq < kPerProducer; ++seq) {
        outbound_frame f = conformance::make_frame(conformance::tagged_id(p, seq),
                                                   bytes::from_static(kPayloads[p]));
        while (!q.try_push(f)) std::this_thread::yield();  // full: the consumer catches up
      }
      // Release: pairs with the failure path's acquire (it only counts).
      finished.fetch_add(1, std::memory_order_release);
    });
  }
  go.store(true, std::memory_order_release);

  std::array<std::uint32_t, kProducers> next{};
  bool failed = false;
  for (std::uint32_t received = 0; received < kProducers * kPerProducer; ++received) {
    outbound_frame f;
    if (!conformance::pop_patiently(q, f)) {
      ADD_FAILURE() << "lost wake-up after " << received << " frames";
      failed = true;
      break;
    }
    const std::uint32_t id = conformance::id_of(f), p = conformance::producer_of(id);
    if (p >= kProducers || conformance::seq_of(id) != next[p] ||
        f.payload().as_string_view() != kPayloads[p]) {
      ADD_FAILURE() << "frame " << received << ": producer " << p << " seq "
                    << conformance::seq_of(id) << " payload '" << f.payload().as_string_view()
                    << "', expected seq " << (p < kProducers ? next[p] : 0);
      failed = true;
      break;
    }
    ++next[p];
  }
  if (failed) {
    // Keep draining so the producers can finish and be joined.
    outbound_frame f;
    while (finished.load(std::memory_order_acquire) < kProducers) {
      while (q.try_pop(f)) {
      }
      std::this_thread::yield();
    }
    for (std::thread& t : producers) t.join();
    return;
  }
  for (std::thread& t : producers) t.join();
  for (std::uint32_t p = 0; p < kProducers; ++p) EXPECT_EQ(next[p], kPerProducer) << p;
  outbound_frame f;
  EXPECT_FALSE(q.try_pop(f)) << "nothing duplicated";
}

TYPED_TEST_P(QueueConformance, PopReleasesThePayloadToTheCaller) {
  auto owner = std::make_shared<const std::string>("payload");
  TypeParam q(4);
  outbound_frame in = conformance::make_frame(1, conformance::shared_payload(owner));
  ASSERT_EQ(owner.use_count(), 2);
  ASSERT_TRUE(q.try_push(in));
  EXPECT_EQ(owner.use_count(), 2) << "moved in, not copied";
  outbound_frame out;
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(out.payload().as_string_view(), "payload");
  out = outbound_frame();
  EXPECT_EQ(owner.use_count(), 1) << "the queue keeps no reference after the pop";

  // The same through pop_wait.
  outbound_frame again = conformance::make_frame(2, conformance::shared_payload(owner));
  ASSERT_TRUE(q.try_push(again));
  ASSERT_TRUE(q.pop_wait(out, absl::Now() + conformance::kPatience));
  out = outbound_frame();
  EXPECT_EQ(owner.use_count(), 1);
}

TYPED_TEST_P(QueueConformance, DestructionReleasesQueuedPayloads) {
  auto owner = std::make_shared<const std::string>("payload");
  {
    TypeParam q(8);
    for (std::uint32_t i = 0; i < 5; ++i) {
      outbound_frame f = conformance::make_frame(i, conformance::shared_payload(owner));
      ASSERT_TRUE(q.try_push(f));
    }
    outbound_frame f;
    ASSERT_TRUE(q.try_pop(f));  // consumer-side storage in use too (mutex_queue)
    f = outbound_frame();
    EXPECT_EQ(owner.use_count(), 5);
  }
  EXPECT_EQ(owner.use_count(), 1) << "queued frames are destroyed with the queue";
}

REGISTER_TYPED_TEST_SUITE_P(QueueConformance, CapacityIsAtLeastTheRequest,
                            EmptyTryPopIsFalseAndLeavesTheTargetAlone,
                            FullRejectsAndLeavesTheFrameUntouched, FifoAcrossManyLaps,
                            PopWaitWakesOnPushFromAnotherThread,
                            PopWaitWithAPastDeadlineReturnsPromptly, CloseWakesABlockedConsumer,
                            FramesPushedBeforeCloseStillPop, MultiProducerFuzz,
                            PopReleasesThePayloadToTheCaller, DestructionReleasesQueuedPayloads);

}  // namespace funnel::testing

#endif  // FUNNEL_TESTING_QUEUE_CONFORMANCE_H_
