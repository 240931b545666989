// The Queue conformance suite (funnel/concepts.h, "Queue"): one typed suite,
// run against every queue model funnel ships. A new model joins by adding
// itself to `QueueModels` at the bottom.
//
// No assertion depends on timing: cross-thread tests synchronise with
// counters, start flags and generous deadlines that only turn a lost wake-up
// into a failure instead of a hang.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/bytes.h"
#include "funnel/concepts.h"
#include "funnel/frame.h"
#include "funnel/policies/queue/boost_lockfree_queue.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/queue/mutex_queue.h"
#include "gtest/gtest.h"
#include "tests/conformance/conformance_util.h"

namespace funnel {
namespace {

using conformance::counter;
using conformance::make_frame;
using conformance::producer_of;
using conformance::seq_of;
using conformance::shared_payload;
using conformance::tagged_id;

static_assert(queue<mpsc_ring>);
static_assert(queue<mutex_queue>);
static_assert(queue<boost_lockfree_queue>);

// Long enough never to expire on a healthy run, even under TSan on a loaded
// machine; short enough that a lost wake-up fails instead of hanging.
constexpr absl::Duration kPatience = absl::Seconds(20);

std::uint32_t id_of(const outbound_frame& f) { return f.header().request_id; }

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

template <class Q>
class QueueConformance : public ::testing::Test {};
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
  outbound_frame in = make_frame(7);
  ASSERT_TRUE(q.try_push(in));
  ASSERT_TRUE(q.try_pop(f));
  EXPECT_EQ(id_of(f), 7u);
  outbound_frame kept = make_frame(8);
  EXPECT_FALSE(q.try_pop(kept)) << "drained again";
  EXPECT_EQ(id_of(kept), 8u) << "a failed pop must not touch its target";
}

TYPED_TEST_P(QueueConformance, FullRejectsAndLeavesTheFrameUntouched) {
  TypeParam q(5);
  const std::size_t cap = q.capacity();
  for (std::size_t i = 0; i < cap; ++i) {
    outbound_frame f = make_frame(static_cast<std::uint32_t>(i));
    ASSERT_TRUE(q.try_push(f)) << "push " << i << " of capacity " << cap;
    EXPECT_FALSE(f.valid()) << "an accepted frame is moved from";
  }
  auto owner = std::make_shared<const std::string>("rejected payload");
  outbound_frame extra = make_frame(1000, shared_payload(owner));
  EXPECT_FALSE(q.try_push(extra)) << "capacity " << cap << " reached";
  EXPECT_TRUE(extra.valid());
  EXPECT_EQ(id_of(extra), 1000u);
  EXPECT_EQ(extra.payload().as_string_view(), "rejected payload");
  EXPECT_EQ(owner.use_count(), 2) << "a rejected push neither copies nor drops the payload";

  // One pop makes room for exactly one more frame.
  outbound_frame f;
  ASSERT_TRUE(q.try_pop(f));
  EXPECT_EQ(id_of(f), 0u);
  EXPECT_TRUE(q.try_push(extra));
  outbound_frame another = make_frame(2000);
  EXPECT_FALSE(q.try_push(another)) << "full again";
  EXPECT_TRUE(another.valid());

  for (std::size_t i = 1; i < cap; ++i) {
    ASSERT_TRUE(q.try_pop(f));
    EXPECT_EQ(id_of(f), i);
  }
  ASSERT_TRUE(q.try_pop(f));
  EXPECT_EQ(id_of(f), 1000u);
  EXPECT_FALSE(q.try_pop(f));
}

// Single producer, many laps around the storage, the fill level varying.
TYPED_TEST_P(QueueConformance, FifoAcrossManyLaps) {
  TypeParam q(4);
  std::uint32_t next_push = 0, next_pop = 0;
  constexpr std::uint32_t kTotal = 1000;
  for (std::uint32_t round = 0; next_pop < kTotal; ++round) {
    for (std::uint32_t k = 0; k < round % 4 + 1 && next_push < kTotal; ++k) {
      outbound_frame f = make_frame(next_push);
      if (!q.try_push(f)) break;
      ++next_push;
    }
    for (std::uint32_t k = 0; k < round % 3 + 1; ++k) {
      outbound_frame f;
      if (!q.try_pop(f)) break;
      ASSERT_EQ(id_of(f), next_pop);
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
  counter consumed;
  std::thread consumer([&] {
    for (int i = 0; i < kRounds; ++i) {
      outbound_frame f;
      if (!pop_patiently(q, f)) {
        ADD_FAILURE() << "lost wake-up in round " << i;
        return;
      }
      EXPECT_EQ(id_of(f), static_cast<std::uint32_t>(i));
      consumed.bump();
    }
  });
  for (int i = 0; i < kRounds; ++i) {
    outbound_frame f = make_frame(static_cast<std::uint32_t>(i));
    ASSERT_TRUE(q.try_push(f));
    if (!consumed.await_at_least(i + 1, absl::Now() + kPatience)) {
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
  outbound_frame in = make_frame(3);
  ASSERT_TRUE(q.try_push(in));
  EXPECT_TRUE(q.pop_wait(f, absl::InfinitePast()));
  EXPECT_EQ(id_of(f), 3u);
}

TYPED_TEST_P(QueueConformance, CloseWakesABlockedConsumer) {
  // Many rounds, so that close() meets the consumer asleep in most of them;
  // the assertions hold whatever the interleaving.
  for (int round = 0; round < 50; ++round) {
    TypeParam q(4);
    counter entered;
    std::atomic<bool> closing{false};
    const absl::Time deadline = absl::Now() + kPatience;
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
    EXPECT_FALSE(q.pop_wait(f, absl::Now() + kPatience));
    EXPECT_LT(absl::Now() - start, kPatience / 2);
  }
}

TYPED_TEST_P(QueueConformance, FramesPushedBeforeCloseStillPop) {
  TypeParam q(8);
  for (std::uint32_t i = 0; i < 3; ++i) {
    outbound_frame f = make_frame(i);
    ASSERT_TRUE(q.try_push(f));
  }
  q.close();
  q.close();  // idempotent
  outbound_frame late = make_frame(3);
  EXPECT_TRUE(q.try_push(late)) << "the queue still accepts pushes after close";
  for (std::uint32_t i = 0; i < 4; ++i) {
    outbound_frame f;
    ASSERT_TRUE(q.pop_wait(f, absl::Now() + kPatience)) << i;
    EXPECT_EQ(id_of(f), i);
  }
  outbound_frame f;
  const absl::Time start = absl::Now();
  EXPECT_FALSE(q.pop_wait(f, absl::InfiniteFuture()));  // would hang if broken
  EXPECT_LT(absl::Now() - start, kPatience / 2);
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
        outbound_frame f = make_frame(tagged_id(p, seq), bytes::from_static(kPayloads[p]));
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
    if (!pop_patiently(q, f)) {
      ADD_FAILURE() << "lost wake-up after " << received << " frames";
      failed = true;
      break;
    }
    const std::uint32_t id = id_of(f), p = producer_of(id);
    if (p >= kProducers || seq_of(id) != next[p] || f.payload().as_string_view() != kPayloads[p]) {
      ADD_FAILURE() << "frame " << received << ": producer " << p << " seq " << seq_of(id)
                    << " payload '" << f.payload().as_string_view() << "', expected seq "
                    << (p < kProducers ? next[p] : 0);
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
  outbound_frame in = make_frame(1, shared_payload(owner));
  ASSERT_EQ(owner.use_count(), 2);
  ASSERT_TRUE(q.try_push(in));
  EXPECT_EQ(owner.use_count(), 2) << "moved in, not copied";
  outbound_frame out;
  ASSERT_TRUE(q.try_pop(out));
  EXPECT_EQ(out.payload().as_string_view(), "payload");
  out = outbound_frame();
  EXPECT_EQ(owner.use_count(), 1) << "the queue keeps no reference after the pop";

  // The same through pop_wait.
  outbound_frame again = make_frame(2, shared_payload(owner));
  ASSERT_TRUE(q.try_push(again));
  ASSERT_TRUE(q.pop_wait(out, absl::Now() + kPatience));
  out = outbound_frame();
  EXPECT_EQ(owner.use_count(), 1);
}

TYPED_TEST_P(QueueConformance, DestructionReleasesQueuedPayloads) {
  auto owner = std::make_shared<const std::string>("payload");
  {
    TypeParam q(8);
    for (std::uint32_t i = 0; i < 5; ++i) {
      outbound_frame f = make_frame(i, shared_payload(owner));
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

using QueueModels = ::testing::Types<mpsc_ring, mutex_queue, boost_lockfree_queue>;
// Test names say which model failed: Models/QueueConformance/mutex_queue.X.
struct queue_model_name {
  template <class Q>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<Q, mpsc_ring>) return "mpsc_ring";
    if constexpr (std::is_same_v<Q, mutex_queue>) return "mutex_queue";
    if constexpr (std::is_same_v<Q, boost_lockfree_queue>) return "boost_lockfree_queue";
    return "unnamed_model";
  }
};
INSTANTIATE_TYPED_TEST_SUITE_P(Models, QueueConformance, QueueModels, queue_model_name);

}  // namespace
}  // namespace funnel
