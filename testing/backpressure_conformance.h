// funnel/testing/backpressure_conformance.h
// -----------------------------------------------------------------------------
// The Backpressure conformance suite (funnel/concepts.h, "Backpressure") as a
// GoogleTest type-parameterized suite,
// `funnel::testing::BackpressureConformance<B>`: first the policy alone, then
// end to end through a real basic_writer<mpsc_ring, memory_sink (or a sink
// that holds the writer), B, count_batcher>. funnel's own models run it too
// (tests/conformance/backpressure_conformance_test.cc).
//
// Instantiate it in exactly one .cc file of your test binary (Bazel:
// //testing:backpressure_conformance):
//
//   #include "funnel/testing/backpressure_conformance.h"
//
//   namespace funnel::testing {
//   INSTANTIATE_TYPED_TEST_SUITE_P(MyTeam, BackpressureConformance,
//                                  ::testing::Types<my_backpressure>);
//   }  // namespace funnel::testing
//
// Why in that namespace: GoogleTest pastes the suite name into identifiers,
// so `funnel::testing::BackpressureConformance` cannot be written qualified in
// the INSTANTIATE line; it must be found unqualified. Inside the namespace,
// spell GoogleTest's own namespace `::testing`.
//
// Why exactly one .cc: this header *defines* the tests (test bodies and static
// registration objects), it does not just declare them. Include it only from
// the .cc file that instantiates the suite, never from another header or a
// library: a binary that includes it but instantiates nothing fails with
// "UninstantiatedTypeParameterizedTestSuite<BackpressureConformance>", and two
// instantiations with the same prefix collide.
//
// A policy that never waits (like fail_fast_backpressure, which treats every
// deadline as passed) says so before the INSTANTIATE line, in the same
// namespace block:
//
//   template <>
//   inline constexpr bool backpressure_waits<my_never_waiting_policy> = false;
//
// The suite then expects one look at `ready()` and an immediate answer instead
// of a wait until the deadline, and its end-to-end producers retry a send()
// that fails fast.
//
// Queue: the end-to-end tests run over mpsc_ring<outbound_frame>, or the
// Queue backpressure_conformance_queue<B> names (below; funnel runs its
// policies over byte_ring this way too).
//
// What it checks: wait() asks ready() once and returns true when it is ready
// at once, even past the deadline; a never-ready wait() returns false, and not
// before the deadline; notify() releases a waiter, round after round (no lost
// wake-up), and so does the optional notify(level) hook with nothing pending; eight waiters
// competing for tokens each get exactly one; end to end, four producers under constant backpressure
// get every frame through in order and never more than max_pending_frames pending; a send() that
// meets the bound with no budget coming back is DeadlineExceeded (not before the timeout, if the
// policy waits) and leaves its frame to the caller. B must model funnel::backpressure and be
// move-constructible.
//
// Timing: deadlines are used only as lower bounds (a wait that ends must not
// end early) or as generous upper bounds (conformance::kPatience, 20 s) that
// turn a lost wake-up into a failure instead of a hang.
#ifndef FUNNEL_TESTING_BACKPRESSURE_CONFORMANCE_H_
#define FUNNEL_TESTING_BACKPRESSURE_CONFORMANCE_H_

#include <array>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/bytes.h"
#include "funnel/concepts.h"
#include "funnel/options.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/procwire/frame.h"
#include "funnel/procwire/frame_decoder.h"
#include "funnel/testing/conformance_util.h"
#include "gtest/gtest.h"

namespace funnel::testing {

// Does the policy wait at all? True unless specialized (see above).
template <class B>
inline constexpr bool backpressure_waits = true;

// The Queue of the end-to-end tests' writers: mpsc_ring<outbound_frame>
// unless specialized, e.g. for a tag type derived from the policy:
//   struct condvar_on_ring : condvar_backpressure {};
//   template <> struct backpressure_conformance_queue<condvar_on_ring> {
//     using type = byte_ring<outbound_frame>;
//   };
template <class B>
struct backpressure_conformance_queue {
  using type = mpsc_ring<outbound_frame>;
};

template <class B>
class BackpressureConformance : public ::testing::Test {
  static_assert(backpressure<B>,
                "funnel::testing::BackpressureConformance: the type must model "
                "funnel::backpressure (see funnel/concepts.h, \"Backpressure\")");
  static_assert(std::move_constructible<B>,
                "funnel::testing::BackpressureConformance: the policy must be "
                "move-constructible (the writer moves it into place)");
  static_assert(!dropping_backpressure<B>,
                "funnel::testing::BackpressureConformance: the policy drops frames instead of "
                "waiting (B::overflow, funnel/overflow.h), so its wait() is never called; run "
                "OverflowConformance<B> (funnel/testing/overflow_conformance.h) instead");
};
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
  if constexpr (backpressure_waits<TypeParam>) {
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

namespace conformance {
// Round after round, a waiter blocks on a flag another thread sets before
// calling `notify(b)`. The flag is set only once the waiter has called
// ready() twice, which for condvar_backpressure means it has announced itself
// as a sleeper: the window where a wake-up could be lost.
template <class B, class Notify>
void expect_notify_releases_a_waiter(Notify notify) {
  B b;
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
    notify(b);
    waiter.join();
  }
}
}  // namespace conformance

TYPED_TEST_P(BackpressureConformance, NotifyReleasesAWaiter) {
  if constexpr (!backpressure_waits<TypeParam>) {
    GTEST_SKIP() << "never waits, so there is nothing to release";
  } else {
    conformance::expect_notify_releases_a_waiter<TypeParam>([](TypeParam& b) { b.notify(); });
  }
}

// The optional notify(level) hook (water marks) must wake its waiters at
// least when nothing is pending (concepts.h), whatever its mark.
TYPED_TEST_P(BackpressureConformance, NotifyWithNothingPendingReleasesAWaiter) {
  if constexpr (!backpressure_waits<TypeParam> || !backpressure_with_level<TypeParam>) {
    GTEST_SKIP() << "no notify(pending_level) hook, or never waits";
  } else {
    conformance::expect_notify_releases_a_waiter<TypeParam>([](TypeParam& b) {
      b.notify(pending_level{.frames = 0, .max_frames = 8, .bytes = 0, .max_bytes = 4096});
    });
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
  conformance::counter through;
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
      if constexpr (backpressure_waits<TypeParam>) {
        EXPECT_TRUE(b.wait(take, absl::Now() + conformance::kPatience)) << "never got a token";
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
    if (!through.await_at_least(i + 1, absl::Now() + conformance::kPatience)) {
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

namespace conformance {
template <class B>
using memory_writer =
    basic_writer<typename backpressure_conformance_queue<B>::type, memory_sink, B, count_batcher>;
}  // namespace conformance

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
  o.backpressure_timeout = conformance::kPatience;
  conformance::memory_writer<TypeParam> w(std::move(sink), o);

  conformance::max_sampler pending([&w] { return w.pending_count(); });
  conformance::run_producers(kProducers, [&](std::uint32_t p) {
    auto h = w.handle();
    for (std::uint32_t seq = 0; seq < kPerProducer; ++seq) {
      outbound_frame f =
          conformance::make_frame(conformance::tagged_id(p, seq), bytes::from_static(kPayload));
      absl::Status s = h.send(std::move(f));
      if constexpr (!backpressure_waits<TypeParam>) {
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
  const std::size_t max_seen = pending.stop();
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
    const std::uint32_t id = (*f)->header.request_id, p = conformance::producer_of(id);
    ASSERT_LT(p, kProducers);
    ASSERT_EQ(conformance::seq_of(id), next[p]) << "producer " << p << " out of order";
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
  conformance::gated_sink sink;
  auto state = sink.s;
  writer_options o;
  o.max_pending_frames = 2;
  const absl::Duration timeout =
      backpressure_waits<TypeParam> ? absl::Milliseconds(50) : absl::Hours(1);
  o.backpressure_timeout = timeout;
  basic_writer<typename backpressure_conformance_queue<TypeParam>::type, conformance::gated_sink,
               TypeParam, count_batcher>
      w(std::move(sink), o);
  auto h = w.handle();
  ASSERT_TRUE(h.send(conformance::make_frame(1)).ok());
  ASSERT_TRUE(
      state->arrivals.await_at_least(1, absl::Now() + conformance::kPatience));  // held in write
  ASSERT_TRUE(h.send(conformance::make_frame(2)).ok());

  outbound_frame third = conformance::make_frame(3);
  const absl::Time start = absl::Now();
  const absl::Status s = h.send(std::move(third));
  const absl::Duration elapsed = absl::Now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_NE(s.message().find("backpressure"), std::string::npos) << s;
  if constexpr (backpressure_waits<TypeParam>) {
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
                            NotifyWithNothingPendingReleasesAWaiter, ManyWaitersEachGetThrough,
                            EndToEndEveryFrameArrivesWithinTheBound,
                            EndToEndTimeoutIsDeadlineExceeded);

}  // namespace funnel::testing

#endif  // FUNNEL_TESTING_BACKPRESSURE_CONFORMANCE_H_
