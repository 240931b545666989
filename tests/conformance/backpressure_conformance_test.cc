// The Backpressure conformance suite (funnel/concepts.h, "Backpressure"):
// one typed suite, run against every backpressure model funnel ships, first
// on the policy alone, then end to end through a basic_writer. A new model
// joins by adding itself to `BackpressureModels` at the bottom (and to
// `waits_for` if it never waits).
//
// No assertion depends on timing except deadlines, and those only as lower
// bounds (a wait that ends must not end early) or as generous upper bounds
// that turn a lost wake-up into a failure instead of a hang.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/bytes.h"
#include "funnel/concepts.h"
#include "funnel/frame.h"
#include "funnel/frame_decoder.h"
#include "funnel/options.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/backpressure/fail_fast_backpressure.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/backpressure/spin_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/memory_sink.h"
#include "gtest/gtest.h"
#include "tests/conformance/conformance_util.h"

namespace funnel {
namespace {

using conformance::counter;
using conformance::gated_sink;
using conformance::make_frame;
using conformance::producer_of;
using conformance::seq_of;
using conformance::tagged_id;

static_assert(backpressure<sleep_backpressure>);
static_assert(backpressure<spin_backpressure>);
static_assert(backpressure<condvar_backpressure>);
static_assert(backpressure<fail_fast_backpressure>);

// Does the policy wait at all? fail_fast_backpressure answers at once.
template <class B>
inline constexpr bool waits_for = true;
template <>
inline constexpr bool waits_for<fail_fast_backpressure> = false;

// See queue_conformance_test.cc: never expires on a healthy run; turns a
// lost wake-up into a failure.
constexpr absl::Duration kPatience = absl::Seconds(20);

template <class B>
class BackpressureConformance : public ::testing::Test {};
TYPED_TEST_SUITE_P(BackpressureConformance);

// --- the policy alone ---------------------------------------------------------

TYPED_TEST_P(BackpressureConformance, ReadyAtOnceReturnsTrueAfterOneCall) {
  TypeParam b;
  int calls = 0;
  auto ready = [&] {
    ++calls;
    return true;
  };
  EXPECT_TRUE(b.wait(ready, absl::InfiniteFuture()));
  EXPECT_EQ(calls, 1);
  calls = 0;
  EXPECT_TRUE(b.wait(ready, absl::InfinitePast())) << "ready() is asked even past the deadline";
  EXPECT_EQ(calls, 1);
}

TYPED_TEST_P(BackpressureConformance, NeverReadyReturnsFalseOnlyAfterTheDeadline) {
  TypeParam b;
  int calls = 0;
  auto never = [&] {
    ++calls;
    return false;
  };
  EXPECT_FALSE(b.wait(never, absl::InfinitePast()));
  EXPECT_GE(calls, 1) << "ready() is called at least once";
  calls = 0;
  if constexpr (waits_for<TypeParam>) {
    const absl::Time deadline = absl::Now() + absl::Milliseconds(30);
    EXPECT_FALSE(b.wait(never, deadline));
    EXPECT_GE(absl::Now(), deadline) << "gave up before the deadline";
    EXPECT_GE(calls, 1);
  } else {
    // Fails fast: one look, however far away the deadline.
    const absl::Time start = absl::Now();
    EXPECT_FALSE(b.wait(never, absl::Now() + absl::Hours(1)));
    EXPECT_LT(absl::Now() - start, absl::Seconds(10)) << "generous: a shared machine";
    EXPECT_EQ(calls, 1);
  }
}

// Round after round, a waiter blocks on a flag another thread sets before
// calling notify(). The flag is set only once the waiter has called ready()
// twice, which for condvar_backpressure means it has announced itself as a
// sleeper: the window where a wake-up could be lost.
TYPED_TEST_P(BackpressureConformance, NotifyReleasesAWaiter) {
  if constexpr (!waits_for<TypeParam>) {
    GTEST_SKIP() << "never waits, so there is nothing to release";
  } else {
    TypeParam b;
    for (int round = 0; round < 50; ++round) {
      std::atomic<bool> flag{false};
      std::atomic<int> calls{0};
      const absl::Time deadline = absl::Now() + kPatience;
      std::thread waiter([&] {
        const bool ok = b.wait(
            [&] {
              // Relaxed: a progress count for the other thread to watch.
              calls.fetch_add(1, std::memory_order_relaxed);
              // Acquire: pairs with the release store below.
              return flag.load(std::memory_order_acquire);
            },
            deadline);
        EXPECT_TRUE(ok) << "round " << round << ": not released before the deadline";
      });
      while (calls.load(std::memory_order_relaxed) < 2) std::this_thread::yield();
      flag.store(true, std::memory_order_release);
      b.notify();
      waiter.join();
    }
  }
}

// Eight waiters share a token counter (taken by CAS, like the writer's
// budget); tokens are handed out one at a time, each followed by notify().
// Every waiter must get through with exactly one token.
TYPED_TEST_P(BackpressureConformance, ManyWaitersEachGetThrough) {
  constexpr int kWaiters = 8;
  TypeParam b;
  std::atomic<int> tokens{0};
  std::atomic<bool> go{false};
  counter through;
  auto take = [&] {
    // Acquire/acq_rel: pairs with the release fetch_add that added the token.
    int t = tokens.load(std::memory_order_acquire);
    while (t > 0) {
      if (tokens.compare_exchange_weak(t, t - 1, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
        return true;
      }
    }
    return false;
  };
  std::vector<std::thread> waiters;
  for (int i = 0; i < kWaiters; ++i) {
    waiters.emplace_back([&] {
      // Acquire: pairs with the release store that starts everyone.
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      if constexpr (waits_for<TypeParam>) {
        EXPECT_TRUE(b.wait(take, absl::Now() + kPatience)) << "never got a token";
      } else {
        // A policy that never waits leaves the retry to its caller.
        while (!b.wait(take, absl::InfiniteFuture())) std::this_thread::yield();
      }
      through.bump();
    });
  }
  go.store(true, std::memory_order_release);
  for (int i = 0; i < kWaiters; ++i) {
    tokens.fetch_add(1, std::memory_order_release);
    b.notify();
    if (!through.await_at_least(i + 1, absl::Now() + kPatience)) {
      ADD_FAILURE() << "token " << i << " was not taken";
      tokens.fetch_add(kWaiters, std::memory_order_release);  // let everyone out
      b.notify();
      break;
    }
  }
  for (std::thread& t : waiters) t.join();
  EXPECT_EQ(through.value(), kWaiters);
  EXPECT_EQ(tokens.load(std::memory_order_relaxed), 0) << "each waiter took exactly one token";
}

// --- end to end through basic_writer -----------------------------------------

template <class B>
using memory_writer = basic_writer<mpsc_ring, memory_sink, B, count_batcher>;

// Four producers send() 2000 frames each through a writer that allows 4
// pending frames, so they are under backpressure nearly all the time. All
// frames must arrive, in order per producer, and a sampler thread must never
// see more than 4 pending.
TYPED_TEST_P(BackpressureConformance, EndToEndEveryFrameArrivesWithinTheBound) {
  constexpr std::uint32_t kProducers = 4;
  constexpr std::uint32_t kPerProducer = 2000;
  constexpr std::size_t kMaxPending = 4;
  static constexpr std::string_view kPayload = "data";

  memory_sink sink;
  auto buffer = sink.buffer();
  writer_options o;
  o.max_pending_frames = kMaxPending;
  o.backpressure_timeout = kPatience;
  memory_writer<TypeParam> w(std::move(sink), o);

  std::atomic<bool> go{false}, stop_sampling{false};
  std::size_t max_seen = 0;
  std::thread sampler([&] {
    // Relaxed: a stop request; the join publishes max_seen.
    while (!stop_sampling.load(std::memory_order_relaxed)) {
      max_seen = std::max(max_seen, w.pending_count());
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> producers;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      auto h = w.handle();
      // Acquire: pairs with the release store that starts everyone.
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (std::uint32_t seq = 0; seq < kPerProducer; ++seq) {
        outbound_frame f = make_frame(tagged_id(p, seq), bytes::from_static(kPayload));
        absl::Status s = h.send(std::move(f));
        if constexpr (!waits_for<TypeParam>) {
          // Fails fast: DeadlineExceeded at once; the frame is left to us.
          while (s.code() == absl::StatusCode::kDeadlineExceeded) {
            std::this_thread::yield();
            s = h.send(std::move(f));
          }
        }
        if (!s.ok()) {
          ADD_FAILURE() << "producer " << p << " seq " << seq << ": " << s;
          return;
        }
      }
    });
  }
  go.store(true, std::memory_order_release);
  for (std::thread& t : producers) t.join();
  stop_sampling.store(true, std::memory_order_relaxed);
  sampler.join();
  ASSERT_TRUE(w.close().ok());

  EXPECT_LE(max_seen, kMaxPending);
  EXPECT_EQ(w.stats().frames_written, kProducers * kPerProducer);
  const std::string stream = buffer->contents();
  frame_decoder d;
  d.push(std::as_bytes(std::span(stream)));
  std::array<std::uint32_t, kProducers> next{};
  std::uint32_t decoded = 0;
  for (;;) {
    absl::StatusOr<std::optional<decoded_frame>> f = d.next();
    ASSERT_TRUE(f.ok()) << f.status();
    if (!f->has_value()) break;
    const std::uint32_t id = (*f)->header.request_id, p = producer_of(id);
    ASSERT_LT(p, kProducers);
    ASSERT_EQ(seq_of(id), next[p]) << "producer " << p << " out of order";
    ASSERT_EQ((*f)->payload.as_string_view(), kPayload);
    ++next[p];
    ++decoded;
  }
  EXPECT_EQ(d.buffered(), 0u) << "trailing bytes";
  EXPECT_EQ(decoded, kProducers * kPerProducer);
}

// The writer is held inside a write, so nothing is released: a send() that
// meets the bound ends with DeadlineExceeded (after the timeout if the policy
// waits, at once if it fails fast) and leaves its frame to the caller.
TYPED_TEST_P(BackpressureConformance, EndToEndTimeoutIsDeadlineExceeded) {
  gated_sink sink;
  auto state = sink.s;
  writer_options o;
  o.max_pending_frames = 2;
  const absl::Duration timeout = waits_for<TypeParam> ? absl::Milliseconds(50) : absl::Hours(1);
  o.backpressure_timeout = timeout;
  basic_writer<mpsc_ring, gated_sink, TypeParam, count_batcher> w(std::move(sink), o);
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(1)).ok());
  ASSERT_TRUE(state->arrivals.await_at_least(1, absl::Now() + kPatience));  // held in write
  ASSERT_TRUE(h.send(make_frame(2)).ok());

  outbound_frame third = make_frame(3);
  const absl::Time start = absl::Now();
  const absl::Status s = h.send(std::move(third));
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_NE(s.message().find("backpressure"), std::string::npos) << s;
  if constexpr (waits_for<TypeParam>) {
    EXPECT_GE(elapsed, timeout);
  } else {
    EXPECT_LT(elapsed, absl::Seconds(10)) << "fails fast (generous: a shared machine)";
  }
  EXPECT_TRUE(third.valid()) << "a rejected frame is left to the caller";
  EXPECT_EQ(w.stats().backpressure_timeouts, 1u);

  state->open_gate();
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_written, 2u);
}

REGISTER_TYPED_TEST_SUITE_P(BackpressureConformance, ReadyAtOnceReturnsTrueAfterOneCall,
                            NeverReadyReturnsFalseOnlyAfterTheDeadline, NotifyReleasesAWaiter,
                            ManyWaitersEachGetThrough, EndToEndEveryFrameArrivesWithinTheBound,
                            EndToEndTimeoutIsDeadlineExceeded);

using BackpressureModels = ::testing::Types<sleep_backpressure, spin_backpressure,
                                            condvar_backpressure, fail_fast_backpressure>;
// Test names say which model failed: Models/BackpressureConformance/spin.X.
struct backpressure_model_name {
  template <class B>
  static std::string GetName(int) {
    if constexpr (std::is_same_v<B, sleep_backpressure>) return "sleep";
    if constexpr (std::is_same_v<B, spin_backpressure>) return "spin";
    if constexpr (std::is_same_v<B, condvar_backpressure>) return "condvar";
    if constexpr (std::is_same_v<B, fail_fast_backpressure>) return "fail_fast";
    return "unnamed_model";
  }
};
INSTANTIATE_TYPED_TEST_SUITE_P(Models, BackpressureConformance, BackpressureModels,
                               backpressure_model_name);

}  // namespace
}  // namespace funnel
