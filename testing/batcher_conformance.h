// funnel/testing/batcher_conformance.h
// -----------------------------------------------------------------------------
// The Batcher conformance suite (funnel/concepts.h, "Batcher") as a GoogleTest
// type-parameterized suite, `funnel::testing::BatcherConformance<T>`: first
// the batcher alone, then end to end through a real basic_writer<mpsc_ring<F>
// (or a Queue the traits name), sink, sleep_backpressure, Bt>. funnel's own models run it too
// (tests/conformance/batcher_conformance_test.cc).
//
// Instantiate it in exactly one .cc file of your test binary (Bazel:
// //testing:batcher_conformance), inside namespace funnel::testing (for the
// reasons given in backpressure_conformance.h):
//
//   #include "funnel/testing/batcher_conformance.h"
//
//   namespace funnel::testing {
//   INSTANTIATE_TYPED_TEST_SUITE_P(MyTeam, BatcherConformance,
//                                  ::testing::Types<my_batcher>);
//   }  // namespace funnel::testing
//
// Customisation point: `batcher_conformance_traits<T>`. The primary template
// default-constructs T and sends procwire frames. Specialise it (all three
// members) to construct the batcher with arguments, to send frames of another
// framing, or to run one batcher type under several settings (T is then a tag
// type of yours). An optional fourth member, `template <class F> using
// queue_type = byte_ring<F>;`, runs the end-to-end tests over that Queue
// instead of mpsc_ring<F>:
//
//   template <>
//   struct batcher_conformance_traits<my_batcher> {
//     using batcher_type = my_batcher;                 // models funnel::batcher
//     using frame_factory = procwire_frame_factory;    // funnel/testing/frame_factory.h
//     static my_batcher make() { return my_batcher(/*max_bytes=*/4096); }
//   };
//
// What it checks. Alone: max_frames_hint() >= 1; admits() is const and
// deterministic (the same answer twice, from a copy, from a fresh make()); the
// optional hooks are deterministic, and linger() is never negative (return
// zero to write now). End to end (frames from the factory, payloads of 8 bytes
// to 1 MiB): every frame arrives exactly once and in order, byte for byte,
// also through 7-byte short writes and from four producers at once (each
// producer's frames in its order); a frame larger than any cap is written
// whole; and every batch is one the batcher admits: replaying admits() over
// the batches the sink saw, each frame after a batch's first was admitted, and
// a batch taken from a full queue ended only where admits() refused the next
// frame.
//
// Timing: a lingering batcher makes each end-to-end test wait out at most one
// linger (the rest end early, by the next frame or by close()); keep make()'s
// linger to milliseconds. Otherwise deadlines are conformance::kPatience
// guards only.
#ifndef FUNNEL_TESTING_BATCHER_CONFORMANCE_H_
#define FUNNEL_TESTING_BATCHER_CONFORMANCE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/concepts.h"
#include "funnel/options.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/testing/conformance_util.h"
#include "funnel/testing/frame_factory.h"
#include "gtest/gtest.h"

namespace funnel::testing {

template <class T>
struct batcher_conformance_traits {
  using batcher_type = T;
  using frame_factory = procwire_frame_factory;
  static T make() { return T(); }
};

// The writer's Queue: mpsc_ring<F> unless the traits name another with
// `template <class F> using queue_type = ...;` (e.g. funnel::byte_ring<F>).
template <class Traits, class F>
struct conformance_queue {
  using type = mpsc_ring<F>;
};
template <class Traits, class F>
requires requires { typename Traits::template queue_type<F>; }
struct conformance_queue<Traits, F> {
  using type = typename Traits::template queue_type<F>;
};

template <class T>
class BatcherConformance : public ::testing::Test {
 protected:
  using traits = batcher_conformance_traits<T>;
  using Bt = typename traits::batcher_type;
  using Fac = typename traits::frame_factory;
  using F = typename Fac::frame_type;
  static_assert(batcher<Bt>,
                "funnel::testing::BatcherConformance: the batcher must model funnel::batcher "
                "(see funnel/concepts.h, \"Batcher\")");
  static_assert(conformance_frame_factory<Fac>,
                "funnel::testing::BatcherConformance: frame_factory must model "
                "conformance_frame_factory (see funnel/testing/frame_factory.h)");

  template <class S>
  using writer =
      basic_writer<typename conformance_queue<traits, F>::type, S, sleep_backpressure, Bt>;

  // Payload sizes: mostly small, some medium, every 50th larger than most caps.
  static std::size_t payload_size(std::uint32_t i) {
    if (i % 50 == 49) return 5000 + i;
    return 8 + (i * 37) % 300;
  }
  static std::string wire_of(std::uint32_t i, std::size_t n) {
    return wire_string(Fac::make(i, n));
  }
  static std::string expected_stream(std::uint32_t count) {
    std::string out;
    for (std::uint32_t i = 0; i < count; ++i) out += wire_of(i, payload_size(i));
    return out;
  }
  static writer_options options() {
    writer_options o;
    o.backpressure_timeout = conformance::kPatience;
    return o;
  }
  // Sends frames 0..count-1 from one producer through a writer over `sink`,
  // closes it, and returns what the sink received; `stats` gets the writer's.
  static std::string send_all(memory_sink sink, std::uint32_t count, writer_stats& stats) {
    auto out = sink.buffer();
    writer<memory_sink> w(std::move(sink), options(), sleep_backpressure{}, traits::make());
    auto h = w.handle();
    for (std::uint32_t i = 0; i < count; ++i) {
      EXPECT_TRUE(h.send(Fac::make(i, payload_size(i))).ok()) << i;
    }
    EXPECT_TRUE(w.close().ok());
    stats = w.stats();
    return out->contents();
  }
};
TYPED_TEST_SUITE_P(BatcherConformance);

// --- the batcher alone --------------------------------------------------------

TYPED_TEST_P(BatcherConformance, HintIsAtLeastOne) {
  EXPECT_GE(TestFixture::traits::make().max_frames_hint(), 1u);
}

TYPED_TEST_P(BatcherConformance, AdmitsIsDeterministicAndCopiesAgree) {
  using Bt = typename TestFixture::Bt;
  const Bt bt = TestFixture::traits::make();
  const Bt copy = bt;  // NOLINT: the copy is the point
  const Bt fresh = TestFixture::traits::make();
  const std::size_t sizes[] = {1, 11, 100, 512, 4096, 65536, 262144, std::size_t{1} << 20};
  for (std::size_t frames : {1, 2, 3, 7, 63, 64, 65, 255, 256, 1023, 1024, 4096}) {
    for (std::size_t bytes : sizes) {
      const batch_stats st{frames, bytes * frames};
      for (std::size_t n : sizes) {
        const bool first = bt.admits(st, n);
        EXPECT_EQ(bt.admits(st, n), first) << frames << " frames, " << st.bytes << " bytes, " << n;
        EXPECT_EQ(copy.admits(st, n), first) << "a copy answers differently";
        EXPECT_EQ(fresh.admits(st, n), first) << "a second make() answers differently";
      }
    }
  }
}

TYPED_TEST_P(BatcherConformance, OptionalHooksAreDeterministic) {
  using Bt = typename TestFixture::Bt;
  const Bt bt = TestFixture::traits::make();
  const Bt copy = bt;  // NOLINT
  if constexpr (batcher_with_coalescing<Bt>) {
    EXPECT_EQ(bt.coalesce_below(), copy.coalesce_below());
    EXPECT_EQ(bt.coalesce_below(), bt.coalesce_below());
  }
  if constexpr (batcher_with_linger<Bt>) {
    for (std::size_t frames : {1, 2, 7, 63, 64, 65, 1024}) {
      for (std::size_t bytes : {11, 512, 65536, 1 << 20}) {
        const batch_stats st{frames, bytes};
        const absl::Duration d = bt.linger(st);
        EXPECT_GE(d, absl::ZeroDuration()) << "return zero, not a negative linger, to write now";
        EXPECT_EQ(bt.linger(st), d);
        EXPECT_EQ(copy.linger(st), d);
      }
    }
  }
  if constexpr (!batcher_with_linger<Bt> && !batcher_with_coalescing<Bt>) {
    GTEST_SKIP() << "no optional hooks";
  }
}

// --- end to end through basic_writer -------------------------------------------

TYPED_TEST_P(BatcherConformance, EndToEndEveryFrameArrivesOnceInOrder) {
  constexpr std::uint32_t kFrames = 400;
  writer_stats st;
  const std::string got = TestFixture::send_all(memory_sink(), kFrames, st);
  EXPECT_EQ(st.frames_written, kFrames);
  EXPECT_TRUE(got == TestFixture::expected_stream(kFrames))
      << "the stream differs from the frames sent (" << got.size() << " bytes)";
}

TYPED_TEST_P(BatcherConformance, EndToEndShortWritesResumeAtTheExactByte) {
  constexpr std::uint32_t kFrames = 120;
  writer_stats st;
  const std::string got = TestFixture::send_all(
      memory_sink(memory_sink::options{.max_bytes_per_write = 7}), kFrames, st);
  EXPECT_EQ(st.frames_written, kFrames);
  EXPECT_TRUE(got == TestFixture::expected_stream(kFrames)) << "stream differs";
}

TYPED_TEST_P(BatcherConformance, EndToEndAFrameLargerThanAnyCapIsWrittenWhole) {
  memory_sink sink;
  auto out = sink.buffer();
  typename TestFixture::template writer<memory_sink> w(
      std::move(sink), TestFixture::options(), sleep_backpressure{}, TestFixture::traits::make());
  auto h = w.handle();
  const std::size_t sizes[] = {8, std::size_t{1} << 20, 9, std::size_t{1} << 20};
  std::string expected;
  for (std::uint32_t i = 0; i < 4; ++i) {
    expected += TestFixture::wire_of(i, sizes[i]);
    ASSERT_TRUE(h.send(TestFixture::Fac::make(i, sizes[i])).ok()) << i;
  }
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_written, 4u);
  EXPECT_TRUE(out->contents() == expected) << "stream differs";
}

// The writer is held inside its first write while the rest of the frames
// queue up, so every later batch but the last is taken from a queue that
// still holds frames: it may end only where admits() refuses the next frame.
TYPED_TEST_P(BatcherConformance, EndToEndBatchesAreWhatTheBatcherAdmits) {
  constexpr std::uint32_t kFrames = 300;
  conformance::gated_sink sink;
  auto state = sink.s;
  typename TestFixture::template writer<conformance::gated_sink> w(
      std::move(sink), TestFixture::options(), sleep_backpressure{}, TestFixture::traits::make());
  auto h = w.handle();
  ASSERT_TRUE(h.send(TestFixture::Fac::make(0, TestFixture::payload_size(0))).ok());
  const bool held = state->arrivals.await_at_least(1, absl::Now() + conformance::kPatience);
  for (std::uint32_t i = 1; held && i < kFrames; ++i) {
    EXPECT_TRUE(h.send(TestFixture::Fac::make(i, TestFixture::payload_size(i))).ok()) << i;
  }
  state->open_gate();  // on every path, or close() would wait for ever
  ASSERT_TRUE(held) << "the writer never called write()";
  ASSERT_TRUE(w.close().ok());

  absl::MutexLock lock(&state->mu);
  ASSERT_TRUE(state->data == TestFixture::expected_stream(kFrames)) << "stream differs";
  const typename TestFixture::Bt bt = TestFixture::traits::make();
  std::uint32_t next = 0;  // first frame of the batch being replayed
  for (std::size_t b = 0; b < state->write_sizes.size(); ++b) {
    const std::size_t batch_bytes = state->write_sizes[b];
    ASSERT_LT(next, kFrames) << "more batches than frames";
    batch_stats st{1, TestFixture::wire_of(next, TestFixture::payload_size(next)).size()};
    ++next;
    while (st.bytes < batch_bytes && next < kFrames) {
      const std::size_t n = TestFixture::wire_of(next, TestFixture::payload_size(next)).size();
      EXPECT_TRUE(bt.admits(st, n))
          << "batch " << b << " holds frame " << next << ", which admits() refuses after "
          << st.frames << " frames of " << st.bytes << " bytes";
      ++st.frames;
      st.bytes += n;
      ++next;
    }
    ASSERT_EQ(st.bytes, batch_bytes) << "batch " << b << " does not end on a frame boundary";
    if (b > 0 && b + 1 < state->write_sizes.size()) {
      const std::size_t n = TestFixture::wire_of(next, TestFixture::payload_size(next)).size();
      EXPECT_FALSE(bt.admits(st, n)) << "batch " << b << " ended before frame " << next
                                     << " although admits() takes it and it was queued";
    }
  }
  EXPECT_EQ(next, kFrames);
}

// Four producers at once: the stream is their frames interleaved, each
// producer's in its order. Frame indices are unique across producers, so the
// stream parses back one way only (frame_factory.h, "distinct").
TYPED_TEST_P(BatcherConformance, EndToEndManyProducersEachInOrder) {
  constexpr std::uint32_t kProducers = 4, kPerProducer = 250;
  memory_sink sink;
  auto out = sink.buffer();
  typename TestFixture::template writer<memory_sink> w(
      std::move(sink), TestFixture::options(), sleep_backpressure{}, TestFixture::traits::make());
  std::vector<std::thread> producers;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      auto h = w.handle();
      for (std::uint32_t s = 0; s < kPerProducer; ++s) {
        const std::uint32_t i = p * kPerProducer + s;
        if (!h.send(TestFixture::Fac::make(i, TestFixture::payload_size(i))).ok()) {
          ADD_FAILURE() << "producer " << p << " frame " << s;
          return;
        }
      }
    });
  }
  for (std::thread& t : producers) t.join();
  ASSERT_TRUE(w.close().ok());

  const std::string stream = out->contents();
  std::array<std::uint32_t, kProducers> next{};
  std::size_t pos = 0;
  while (pos < stream.size()) {
    bool matched = false;
    for (std::uint32_t p = 0; p < kProducers && !matched; ++p) {
      if (next[p] == kPerProducer) continue;
      const std::uint32_t i = p * kPerProducer + next[p];
      const std::string f = TestFixture::wire_of(i, TestFixture::payload_size(i));
      if (stream.compare(pos, f.size(), f) == 0) {
        pos += f.size();
        ++next[p];
        matched = true;
      }
    }
    ASSERT_TRUE(matched) << "at byte " << pos << ": not the next frame of any producer";
  }
  for (std::uint32_t p = 0; p < kProducers; ++p) EXPECT_EQ(next[p], kPerProducer) << p;
}

REGISTER_TYPED_TEST_SUITE_P(BatcherConformance, HintIsAtLeastOne,
                            AdmitsIsDeterministicAndCopiesAgree, OptionalHooksAreDeterministic,
                            EndToEndEveryFrameArrivesOnceInOrder,
                            EndToEndShortWritesResumeAtTheExactByte,
                            EndToEndAFrameLargerThanAnyCapIsWrittenWhole,
                            EndToEndBatchesAreWhatTheBatcherAdmits,
                            EndToEndManyProducersEachInOrder);

}  // namespace funnel::testing

#endif  // FUNNEL_TESTING_BATCHER_CONFORMANCE_H_
