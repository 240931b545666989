// funnel/testing/overflow_conformance.h
// -----------------------------------------------------------------------------
// The overflow conformance suite, `funnel::testing::OverflowConformance<B>`,
// for Backpressure policies that DROP instead of waiting: B::overflow is
// overflow_action::drop_newest or drop_oldest (funnel/overflow.h), like
// drop_newest_backpressure and drop_oldest_backpressure. Such a policy's
// wait() is never called, so BackpressureConformance (which times waits)
// refuses it and points here. funnel's own drop policies run this suite
// (tests/conformance/overflow_conformance_test.cc).
//
// Instantiate it in exactly one .cc file of your test binary (Bazel:
// //testing:overflow_conformance), as the other suites:
//
//   #include "funnel/testing/overflow_conformance.h"
//
//   namespace funnel::testing {
//   INSTANTIATE_TYPED_TEST_SUITE_P(MyTeam, OverflowConformance,
//                                  ::testing::Types<my_drop_policy<conformance::drop_recorder>>);
//   }  // namespace funnel::testing
//
// (Why that namespace, and why one .cc: see backpressure_conformance.h.)
//
// The callback: when B is constructible from a conformance::drop_recorder (the
// callable a policy calls with each dropped frame), the suite constructs it so
// and also checks what the callback saw: each dropped frame exactly once, and
// which ones. Otherwise B is default-constructed and only the counts are
// checked.
//
// Queue: the writers run over mpsc_ring<outbound_frame> for drop_newest and
// mutex_queue<outbound_frame> for drop_oldest (which needs try_evict), or the
// Queue overflow_conformance_queue<B> names (funnel runs drop_newest over
// byte_ring and drop_oldest over boost_lockfree_queue this way).
//
// What it checks, with the writer held inside a write (a gated sink) and then
// with four producers racing each other and close():
//   * at a full bound, send() and try_send() return OK at once (a policy that
//     waited would time out: the writers allow kPatience) and the frame that
//     goes is the one the action names: the new one (drop_newest: the stream
//     keeps the first frames) or the oldest queued one (drop_oldest: the stream
//     keeps the newest), never a frame already in the writer's batch;
//   * stats() count each drop once: accepted == written + lost + dropped,
//     exactly, also when close() races the producers; pending never exceeds
//     the bound (over a byte queue, plus one per producer counting a drop);
//   * the stream holds whole frames only, each producer's in send order.
#ifndef FUNNEL_TESTING_OVERFLOW_CONFORMANCE_H_
#define FUNNEL_TESTING_OVERFLOW_CONFORMANCE_H_

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/bytes.h"
#include "funnel/concepts.h"
#include "funnel/options.h"
#include "funnel/overflow.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/queue/mutex_queue.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/procwire/frame.h"
#include "funnel/testing/conformance_util.h"
#include "funnel/testing/frames.h"  // decode_frames
#include "gtest/gtest.h"

namespace funnel::testing {

// The Queue of the suite's writers (see above); specialize it for a tag type
// derived from the policy to run the suite over another Queue.
template <class B>
struct overflow_conformance_queue {
  using type = std::conditional_t<overflow_of<B> == overflow_action::drop_oldest,
                                  mutex_queue<outbound_frame>, mpsc_ring<outbound_frame>>;
};

namespace conformance {

// The on_drop callable: records the request id of every frame it is called
// with. Copies share one record. Thread-safe (producers call it concurrently).
class drop_recorder {
 public:
  void operator()(const outbound_frame& f) const {
    absl::MutexLock lock(&s_->mu);
    s_->ids.push_back(f.header().request_id);
  }
  std::vector<std::uint32_t> ids() const {
    absl::MutexLock lock(&s_->mu);
    return s_->ids;
  }

 private:
  struct state {
    absl::Mutex mu;
    std::vector<std::uint32_t> ids ABSL_GUARDED_BY(mu);
  };
  std::shared_ptr<state> s_ = std::make_shared<state>();
};

// The policy under test, with `rec` as its callback when it takes one.
template <class B>
inline constexpr bool records_drops = std::constructible_from<B, drop_recorder>;
template <class B>
B make_overflow_policy(const drop_recorder& rec) {
  if constexpr (records_drops<B>) {
    return B(rec);
  } else {
    return B();
  }
}

template <class B, class Sink>
using overflow_writer =
    basic_writer<typename overflow_conformance_queue<B>::type, Sink, B, count_batcher>;

// The request ids of a stream of whole frames (decode_frames fails the test,
// naming the offset, on half a frame or a bad header).
inline std::vector<std::uint32_t> request_ids(std::string_view stream) {
  std::vector<std::uint32_t> ids;
  absl::StatusOr<std::vector<decoded_frame>> frames = decode_frames(stream);
  EXPECT_TRUE(frames.ok()) << frames.status();
  if (frames.ok()) {
    for (const decoded_frame& f : *frames) ids.push_back(f.header.request_id);
  }
  return ids;
}

// Each producer's frames (tagged_id) appear in send order; returns how many.
inline std::size_t expect_in_order_per_producer(const std::vector<std::uint32_t>& ids,
                                                std::uint32_t producers) {
  std::vector<std::int64_t> last(producers, -1);
  for (const std::uint32_t id : ids) {
    const std::uint32_t p = producer_of(id);
    EXPECT_LT(p, producers) << "a frame nobody sent";
    if (p >= producers) continue;
    EXPECT_GT(static_cast<std::int64_t>(seq_of(id)), last[p]) << "producer " << p << " reordered";
    last[p] = seq_of(id);
  }
  return ids.size();
}

}  // namespace conformance

template <class B>
class OverflowConformance : public ::testing::Test {
  static_assert(backpressure<B>,
                "funnel::testing::OverflowConformance: the type must model "
                "funnel::backpressure (see funnel/concepts.h, \"Backpressure\")");
  static_assert(dropping_backpressure<B>,
                "funnel::testing::OverflowConformance: the policy does not drop (B::overflow "
                "is not drop_newest or drop_oldest, funnel/overflow.h); run "
                "BackpressureConformance<B> instead");
  static_assert(std::move_constructible<B>,
                "funnel::testing::OverflowConformance: the policy must be move-constructible");
};
TYPED_TEST_SUITE_P(OverflowConformance);

// The writer holds frame 1 inside its write; frame 2 waits in the queue; the
// bound is 2 frames. Frames 3..6 (send and try_send in turn) each drop one
// frame without waiting, which one depending on the action.
TYPED_TEST_P(OverflowConformance, FullBoundDropsTheFrameTheActionNames) {
  conformance::gated_sink sink;
  auto state = sink.s;
  conformance::drop_recorder rec;
  writer_options o;
  o.max_pending_frames = 2;
  o.backpressure_timeout = conformance::kPatience;  // a wait would end DeadlineExceeded
  conformance::overflow_writer<TypeParam, conformance::gated_sink> w(
      std::move(sink), o, conformance::make_overflow_policy<TypeParam>(rec));
  auto h = w.handle();
  ASSERT_TRUE(h.send(conformance::make_frame(1)).ok());
  ASSERT_TRUE(state->arrivals.await_at_least(1, absl::Now() + conformance::kPatience));
  ASSERT_TRUE(h.send(conformance::make_frame(2)).ok());
  for (std::uint32_t id = 3; id <= 6; ++id) {
    const absl::Status s =
        id % 2 != 0 ? h.send(conformance::make_frame(id)) : h.try_send(conformance::make_frame(id));
    EXPECT_TRUE(s.ok()) << "frame " << id << ": a full bound drops, it does not refuse: " << s;
    EXPECT_LE(w.pending_count(), 2u);
  }
  EXPECT_EQ(w.stats().frames_dropped, 4u);

  state->open_gate();
  ASSERT_TRUE(w.flush().ok()) << "dropped frames never hold flush() up";
  ASSERT_TRUE(w.close().ok());
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, 6u);
  EXPECT_EQ(st.frames_dropped, 4u);
  EXPECT_EQ(st.frames_lost, 0u);
  EXPECT_EQ(st.frames_written, 2u);
  std::string stream;
  {
    absl::MutexLock lock(&state->mu);
    stream = state->data;
  }
  const bool newest = overflow_of<TypeParam> == overflow_action::drop_newest;
  const std::vector<std::uint32_t> kept =
      newest ? std::vector<std::uint32_t>{1, 2} : std::vector<std::uint32_t>{1, 6};
  const std::vector<std::uint32_t> dropped =
      newest ? std::vector<std::uint32_t>{3, 4, 5, 6} : std::vector<std::uint32_t>{2, 3, 4, 5};
  EXPECT_EQ(conformance::request_ids(stream), kept)
      << (newest ? "drop_newest keeps the first frames" : "drop_oldest keeps the newest frame")
      << "; frame 1 was in the writer's batch and must never be dropped";
  if constexpr (conformance::records_drops<TypeParam>) {
    EXPECT_EQ(rec.ids(), dropped) << "the callback sees each dropped frame once, in drop order";
  }
}

// Four producers under a bound of 4 frames, a sink that keeps up now and
// then: every send() is OK, and every frame is written or dropped, exactly.
TYPED_TEST_P(OverflowConformance, ManyProducersAccountForEveryFrame) {
  constexpr std::uint32_t kProducers = 4, kPerProducer = 2000;
  constexpr std::size_t kMaxPending = 4;
  memory_sink sink;
  auto buffer = sink.buffer();
  conformance::drop_recorder rec;
  writer_options o;
  o.max_pending_frames = kMaxPending;
  o.backpressure_timeout = conformance::kPatience;
  conformance::overflow_writer<TypeParam, memory_sink> w(
      std::move(sink), o, conformance::make_overflow_policy<TypeParam>(rec));
  conformance::max_sampler pending([&w] { return w.pending_count(); });
  conformance::run_producers(kProducers, [&](std::uint32_t p) {
    auto h = w.handle();
    for (std::uint32_t seq = 0; seq < kPerProducer; ++seq) {
      const absl::Status s = h.send(conformance::make_frame(conformance::tagged_id(p, seq)));
      if (!s.ok()) {
        ADD_FAILURE() << "producer " << p << " seq " << seq << ": " << s;
        return;
      }
    }
  });
  const std::size_t max_seen = pending.stop();
  ASSERT_TRUE(w.close().ok());

  const writer_stats st = w.stats();
  // A byte queue's pending_count() is accepted - processed: a drop being
  // counted (accepted, then dropped) adds one for an instant per producer, as
  // in the policy matrix. A frame queue's is its pending budget: exact.
  constexpr std::size_t kDropsInFlight =
      byte_queue<typename overflow_conformance_queue<TypeParam>::type> ? kProducers : 0;
  EXPECT_LE(max_seen, kMaxPending + kDropsInFlight);
  EXPECT_EQ(st.frames_accepted, kProducers * kPerProducer);
  EXPECT_EQ(st.frames_lost, 0u);
  EXPECT_EQ(st.frames_written + st.frames_dropped, st.frames_accepted);
  EXPECT_EQ(conformance::expect_in_order_per_producer(conformance::request_ids(buffer->contents()),
                                                      kProducers),
            st.frames_written);
  if constexpr (conformance::records_drops<TypeParam>) {
    EXPECT_EQ(rec.ids().size(), st.frames_dropped);
  }
}

// close() while four producers still send: each send() is OK or refused as
// closed, and accepted == written + lost + dropped holds exactly afterwards.
TYPED_TEST_P(OverflowConformance, CloseRacingProducersKeepsTheCountsExact) {
  constexpr std::uint32_t kProducers = 4, kPerProducer = 3000;
  memory_sink sink;
  auto buffer = sink.buffer();
  conformance::drop_recorder rec;
  writer_options o;
  o.max_pending_frames = 4;
  conformance::overflow_writer<TypeParam, memory_sink> w(
      std::move(sink), o, conformance::make_overflow_policy<TypeParam>(rec));
  std::atomic<std::uint64_t> ok{0};
  std::thread closer([&] {
    // Relaxed: only paces the close; the joins order everything read below.
    while (ok.load(std::memory_order_relaxed) < kProducers * kPerProducer / 4) {
      std::this_thread::yield();
    }
    EXPECT_TRUE(w.close().ok());
  });
  conformance::run_producers(kProducers, [&](std::uint32_t p) {
    auto h = w.handle();
    for (std::uint32_t seq = 0; seq < kPerProducer; ++seq) {
      const absl::Status s = h.send(conformance::make_frame(conformance::tagged_id(p, seq)));
      if (!s.ok()) {
        EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
        return;
      }
      ok.fetch_add(1, std::memory_order_relaxed);  // relaxed: a count read after the joins
    }
  });
  closer.join();

  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, ok.load());
  EXPECT_EQ(st.frames_accepted, st.frames_written + st.frames_lost + st.frames_dropped);
  EXPECT_EQ(conformance::expect_in_order_per_producer(conformance::request_ids(buffer->contents()),
                                                      kProducers),
            st.frames_written);
  if constexpr (conformance::records_drops<TypeParam>) {
    EXPECT_EQ(rec.ids().size(), st.frames_dropped);
  }
}

REGISTER_TYPED_TEST_SUITE_P(OverflowConformance, FullBoundDropsTheFrameTheActionNames,
                            ManyProducersAccountForEveryFrame,
                            CloseRacingProducersKeepsTheCountsExact);

}  // namespace funnel::testing

#endif  // FUNNEL_TESTING_OVERFLOW_CONFORMANCE_H_
