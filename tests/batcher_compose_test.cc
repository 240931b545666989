// The batcher wrappers (funnel/policies/batcher/coalescing.h, lingering.h):
// which hooks a composition has, what each hook answers, that the named
// models (linger_batcher, coalescing_batcher) keep their behaviour, and end to
// end through a real writer what a composed batcher does to the write calls.
#include <cstddef>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/concepts.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/policies/batcher/coalescing.h"
#include "funnel/policies/batcher/coalescing_batcher.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/batcher/linger_batcher.h"
#include "funnel/policies/batcher/lingering.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing_internal::make_frame;
using testing_internal::wire_bytes;

// --- which hooks a composition has ------------------------------------------

static_assert(batcher<coalescing<count_batcher>> && batcher<lingering<byte_batcher>>);
static_assert(batcher_with_coalescing<coalescing<byte_batcher>> &&
              !batcher_with_linger<coalescing<byte_batcher>>);
static_assert(batcher_with_linger<lingering<byte_batcher>> &&
              !batcher_with_coalescing<lingering<byte_batcher>>);
// Each wrapper forwards the hook it does not add, in either order.
static_assert(batcher_with_linger<coalescing<lingering<byte_batcher>>> &&
              batcher_with_coalescing<coalescing<lingering<byte_batcher>>>);
static_assert(batcher_with_linger<lingering<coalescing<byte_batcher>>> &&
              batcher_with_coalescing<lingering<coalescing<byte_batcher>>>);
// The named models are the wrappers over count_batcher.
static_assert(batcher_with_linger<linger_batcher> && !batcher_with_coalescing<linger_batcher>);
static_assert(batcher_with_coalescing<coalescing_batcher> &&
              !batcher_with_linger<coalescing_batcher>);
static_assert(std::is_base_of_v<lingering<count_batcher>, linger_batcher> &&
              std::is_base_of_v<coalescing<count_batcher>, coalescing_batcher>);

// --- what each hook answers ---------------------------------------------------

TEST(Coalescing, ForwardsAdmitsAndHintAndAddsTheThreshold) {
  const coalescing<byte_batcher> bt(byte_batcher(250, 3), 100);
  EXPECT_EQ(bt.coalesce_below(), 100u);
  EXPECT_EQ(bt.max_frames_hint(), 3u);
  EXPECT_TRUE(bt.admits({1, 100}, 150));
  EXPECT_FALSE(bt.admits({1, 100}, 151));  // the byte cap
  EXPECT_FALSE(bt.admits({3, 30}, 10));    // the frame cap
  const coalescing<count_batcher> defaults;
  EXPECT_EQ(defaults.coalesce_below(), kDefaultCoalesceBelow);
  EXPECT_EQ(defaults.max_frames_hint(), kDefaultMaxBatchFrames);
}

TEST(Lingering, LingersWhileTheBatchIsSmallAndInnerWouldGrowIt) {
  const lingering<count_batcher> bt(count_batcher(4), absl::Milliseconds(5), /*small=*/3);
  EXPECT_EQ(bt.linger({1, 11}), absl::Milliseconds(5));
  EXPECT_EQ(bt.linger({2, 22}), absl::Milliseconds(5));
  EXPECT_EQ(bt.linger({3, 33}), absl::ZeroDuration());  // reached `small`
  const lingering<count_batcher> big_small(count_batcher(4), absl::Milliseconds(5), 10);
  EXPECT_EQ(big_small.linger({3, 33}), absl::Milliseconds(5));
  EXPECT_EQ(big_small.linger({4, 44}), absl::ZeroDuration());  // Inner is full
  // A byte cap ends the linger once not even a 1-byte frame would fit.
  const lingering<byte_batcher> bytes(byte_batcher(300), absl::Seconds(1), 64);
  EXPECT_EQ(bytes.linger({2, 299}), absl::Seconds(1));
  EXPECT_EQ(bytes.linger({3, 300}), absl::ZeroDuration());
  EXPECT_TRUE(bytes.admits({1, 100}, 200));
  EXPECT_FALSE(bytes.admits({1, 100}, 201));
  // Defaults and a negative linger: never wait.
  EXPECT_EQ(lingering<count_batcher>().linger({1, 11}), absl::ZeroDuration());
  EXPECT_EQ(lingering<count_batcher>(count_batcher(), absl::Seconds(-1)).linger({1, 11}),
            absl::ZeroDuration());
}

TEST(Composition, EachWrapperForwardsTheOtherHook) {
  const coalescing<lingering<byte_batcher>> a(
      lingering<byte_batcher>(byte_batcher(300), absl::Seconds(2), 8), 64);
  const lingering<coalescing<byte_batcher>> b(coalescing<byte_batcher>(byte_batcher(300), 64),
                                              absl::Seconds(2), 8);
  for (const batch_stats st :
       {batch_stats{1, 11}, batch_stats{7, 250}, batch_stats{8, 250}, batch_stats{3, 300}}) {
    EXPECT_EQ(a.linger(st), b.linger(st)) << st.frames << " frames";
    for (std::size_t n : {1, 49, 50, 51, 300}) EXPECT_EQ(a.admits(st, n), b.admits(st, n));
  }
  EXPECT_EQ(a.linger({1, 11}), absl::Seconds(2));
  EXPECT_EQ(a.coalesce_below(), 64u);
  EXPECT_EQ(b.coalesce_below(), 64u);
  EXPECT_EQ(a.max_frames_hint(), b.max_frames_hint());
}

// The named models answer as they did before they became wrappers.
TEST(NamedModels, LingerBatcherKeepsItsBehaviour) {
  for (std::size_t max_frames : {0, 1, 4, 64}) {
    for (std::size_t small : {0, 1, 3, 64, 100}) {
      const linger_batcher bt(
          {.max_frames = max_frames, .small = small, .linger = absl::Milliseconds(3)});
      const std::size_t cap = max_frames == 0 ? 1 : max_frames;
      EXPECT_EQ(bt.max_frames_hint(), cap);
      for (std::size_t frames = 1; frames < 110; ++frames) {
        EXPECT_EQ(bt.admits({frames, frames * 10}, 1000), frames < cap);
        const absl::Duration was =
            frames < small && frames < cap ? absl::Milliseconds(3) : absl::ZeroDuration();
        EXPECT_EQ(bt.linger({frames, frames * 10}), was) << max_frames << "/" << small;
      }
    }
  }
  EXPECT_EQ(linger_batcher().linger({1, 11}), absl::ZeroDuration());
  EXPECT_EQ(linger_batcher().max_frames_hint(), 64u);
}

TEST(NamedModels, CoalescingBatcherKeepsItsBehaviour) {
  const coalescing_batcher defaults;
  EXPECT_EQ(defaults.max_frames_hint(), 64u);
  EXPECT_EQ(defaults.coalesce_below(), 512u);
  EXPECT_TRUE(defaults.admits({63, 1 << 30}, 1 << 30));
  EXPECT_FALSE(defaults.admits({64, 64}, 1));
  const coalescing_batcher one({.max_frames = 0, .coalesce_below = 7});
  EXPECT_EQ(one.max_frames_hint(), 1u);
  EXPECT_EQ(one.coalesce_below(), 7u);
  EXPECT_FALSE(one.admits({1, 11}, 1));
}

// --- end to end: what a composed batcher does to the write calls -------------

// Takes everything; records each call's ranges and bytes. With `held`, the
// first call waits until the test opens the gate. Keep `s`: the sink moves.
struct recording_sink {
  struct call {
    std::size_t ranges, bytes;
    bool operator==(const call&) const = default;
  };
  struct state {
    testing_internal::gate g;
    absl::Mutex mu;
    std::vector<call> calls ABSL_GUARDED_BY(mu);
    std::string data ABSL_GUARDED_BY(mu);
  };
  std::shared_ptr<state> s = std::make_shared<state>();

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    s->g.arrive();
    s->g.wait_open();
    absl::MutexLock lock(&s->mu);
    s->calls.push_back({buffers.size(), total_size(buffers)});
    for (const const_buffer& b : buffers) {
      s->data.append(reinterpret_cast<const char*>(b.data), b.size);
    }
    return total_size(buffers);
  }
};
void PrintTo(const recording_sink::call& c, std::ostream* os) {
  *os << "{" << c.ranges << " ranges, " << c.bytes << " bytes}";
}

template <class Bt>
using recording_writer =
    basic_writer<mpsc_ring<outbound_frame>, recording_sink, sleep_backpressure, Bt>;

// Holds the writer on a first 15-byte frame, queues `payloads` behind it,
// releases it, and returns the calls the sink saw.
template <class Bt>
std::vector<recording_sink::call> calls_when_held(Bt batcher,
                                                  const std::vector<std::string>& payloads) {
  recording_sink sink;
  auto s = sink.s;
  recording_writer<Bt> w(std::move(sink), writer_options{}, sleep_backpressure{}, batcher);
  auto h = w.handle();
  EXPECT_TRUE(h.send(make_frame(1000, "held")).ok());
  s->g.await_arrivals(1);
  std::string expected = wire_bytes(1000, "held");
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    const auto id = static_cast<std::uint32_t>(i);
    expected += wire_bytes(id, payloads[i]);
    EXPECT_TRUE(h.send(make_frame(id, payloads[i])).ok());
  }
  s->g.open();
  EXPECT_TRUE(w.close().ok());
  absl::MutexLock lock(&s->mu);
  EXPECT_EQ(s->data, expected);
  return s->calls;
}

using call = recording_sink::call;

TEST(ComposedEndToEnd, ByteCapPlusCoalescingGivesOneRangePerCappedBatch) {
  // Frames of 11 + 89 = 100 bytes; a 250-byte cap takes two per batch.
  const std::vector<std::string> payloads(7, std::string(89, 'p'));
  // The byte cap alone: two ranges (header, payload) per frame.
  EXPECT_EQ(calls_when_held(byte_batcher(250), payloads),
            (std::vector<call>{{2, 15}, {4, 200}, {4, 200}, {4, 200}, {2, 100}}));
  // Composed with coalescing: the same batches, one range each.
  EXPECT_EQ(calls_when_held(coalescing<byte_batcher>(byte_batcher(250), 512), payloads),
            (std::vector<call>{{1, 15}, {1, 200}, {1, 200}, {1, 200}, {1, 100}}));
}

TEST(ComposedEndToEnd, ALargePayloadIsCappedAloneAndNotCopied) {
  const std::vector<std::string> payloads = {std::string(89, 'a'), std::string(1000, 'B'),
                                             std::string(89, 'c')};
  // The 1011-byte frame exceeds the cap: a batch of its own, its header
  // coalesced (one range) and its payload referenced (another).
  EXPECT_EQ(calls_when_held(coalescing<byte_batcher>(byte_batcher(250), 512), payloads),
            (std::vector<call>{{1, 15}, {1, 100}, {2, 1011}, {1, 100}}));
}

// Lingering, a byte cap and coalescing at once: frames sent one at a time
// still go out three to a batch (the 300-byte cap ends each linger), as one
// range. Only a lower bound on time: a lost batch would wait out 30 s.
template <class Bt>
void expect_trickle_in_threes(Bt batcher) {
  recording_sink sink;
  auto s = sink.s;
  s->g.open();
  recording_writer<Bt> w(std::move(sink), writer_options{}, sleep_backpressure{}, batcher);
  auto h = w.handle();
  std::string expected;
  for (std::uint32_t i = 0; i < 6; ++i) {
    expected += wire_bytes(i, std::string(89, 'x'));
    ASSERT_TRUE(h.send(make_frame(i, std::string(89, 'x'))).ok());
  }
  ASSERT_TRUE(w.flush().ok());
  ASSERT_TRUE(w.close().ok());
  absl::MutexLock lock(&s->mu);
  EXPECT_EQ(s->data, expected);
  EXPECT_EQ(s->calls, (std::vector<call>{{1, 300}, {1, 300}}));
}

TEST(ComposedEndToEnd, LingerByteCapAndCoalescingTogether) {
  expect_trickle_in_threes(coalescing<lingering<byte_batcher>>(
      lingering<byte_batcher>(byte_batcher(300), absl::Seconds(30), 64), 512));
  expect_trickle_in_threes(lingering<coalescing<byte_batcher>>(
      coalescing<byte_batcher>(byte_batcher(300), 512), absl::Seconds(30), 64));
}

// The composition docs/policies.md shows ("Composing").
TEST(ComposedEndToEnd, PoliciesDocExampleAnswersAsDocumented) {
  using trickle_batcher = funnel::coalescing<funnel::lingering<funnel::byte_batcher>>;
  trickle_batcher b(funnel::lingering<funnel::byte_batcher>(funnel::byte_batcher(64 << 10, 64),
                                                            absl::Microseconds(200), 16),
                    256);
  EXPECT_EQ(b.coalesce_below(), 256u);
  EXPECT_EQ(b.linger({15, 1500}), absl::Microseconds(200));
  EXPECT_EQ(b.linger({16, 1600}), absl::ZeroDuration());
  EXPECT_FALSE(b.admits({64, 640}, 10));
  EXPECT_FALSE(b.admits({2, 64 << 10}, 1));
}

}  // namespace
}  // namespace funnel
