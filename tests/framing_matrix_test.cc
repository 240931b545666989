// The framings through every policy combination: queue x backpressure x
// batcher (tests/policy_matrix.h, shared with matrix_test.cc), over a
// memory_sink, once per framing (FUNNEL_FRAMING_MATRIX_VARINT: varint_frame;
// FUNNEL_FRAMING_MATRIX_RAW: newline-delimited raw_frame). The sink's bytes
// are decoded with the testing kit's decoders and must hold every frame once,
// in per-producer order, byte for byte, within the pending bound.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/bytes.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/backpressure/fail_fast_backpressure.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/backpressure/spin_backpressure.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/policies/batcher/coalescing_batcher.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/batcher/linger_batcher.h"
#include "funnel/policies/queue/boost_lockfree_queue.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/queue/mutex_queue.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/policy_set.h"
#include "funnel/testing/framing_decoders.h"
#include "gtest/gtest.h"
#include "tests/policy_matrix.h"

#if defined(FUNNEL_FRAMING_MATRIX_RAW)
#include "funnel/framing/raw.h"
#else
#include "funnel/framing/length_prefixed.h"
#endif

namespace funnel {
namespace {

// Frame i of producer t: its body starts with "t i " as 8 bytes (t, i as
// little-endian u32; in text for raw frames), then a filler that depends on
// (t, i, position), so any misplaced byte shows.
std::size_t body_size(int t, int i) { return i % 50 == 7 ? 5000 : (i * 37 + t) % 700 + 8; }
char filler(int t, int i, std::size_t k) {
  return static_cast<char>('a' + (t * 7 + i * 3 + static_cast<int>(k)) % 26);
}

#if defined(FUNNEL_FRAMING_MATRIX_RAW)
using frame_type = framing::raw_frame;
std::string body(int t, int i) {
  std::string b = std::to_string(t) + ":" + std::to_string(i) + ":";
  for (std::size_t k = b.size(); k < body_size(t, i); ++k) b += filler(t, i, k);
  return b;
}
frame_type make(int t, int i) { return *frame_type::make(bytes::copy_from(body(t, i)), "\n"); }
absl::StatusOr<std::vector<bytes>> decode(std::string_view s) {
  return testing::split_delimited(s, "\n");
}
std::pair<int, int> ids(std::string_view b) {
  const std::size_t c1 = b.find(':'), c2 = b.find(':', c1 + 1);
  return {std::stoi(std::string(b.substr(0, c1))),
          std::stoi(std::string(b.substr(c1 + 1, c2 - c1 - 1)))};
}
#else
using frame_type = framing::varint_frame;
std::string body(int t, int i) {
  std::string b(body_size(t, i), '\0');
  const std::uint32_t head[2] = {static_cast<std::uint32_t>(t), static_cast<std::uint32_t>(i)};
  std::memcpy(b.data(), head, sizeof head);
  for (std::size_t k = sizeof head; k < b.size(); ++k) b[k] = filler(t, i, k);
  return b;
}
frame_type make(int t, int i) { return *frame_type::make(bytes::copy_from(body(t, i))); }
absl::StatusOr<std::vector<bytes>> decode(std::string_view s) {
  return testing::decode_length_prefixed<framing::varint_prefix>(s);
}
std::pair<int, int> ids(std::string_view b) {
  std::uint32_t head[2];
  std::memcpy(head, b.data(), sizeof head);
  return {static_cast<int>(head[0]), static_cast<int>(head[1])};
}
#endif

using all_combinations = testing_internal::policy_matrix_types<frame_type, memory_sink>;
using testing_internal::send_retrying;

template <class Preset>
class FramingMatrix : public ::testing::Test {};
TYPED_TEST_SUITE(FramingMatrix, all_combinations);

TYPED_TEST(FramingMatrix, DeliversEveryFrameOnceInPerProducerOrderByteForByte) {
  writer_options o;
  o.max_pending_frames = 8;
  o.queue_capacity = 8;
  memory_sink sink;
  const std::shared_ptr<const memory_sink_buffer> out = sink.buffer();
  writer_for<TypeParam> w(std::move(sink), o);
  constexpr int kProducers = 3, kFrames = 300;
  std::atomic<bool> go{false}, done{false};
  std::atomic<std::size_t> max_seen{0};
  std::thread sampler([&] {
    while (!done.load(std::memory_order_acquire)) {
      const std::size_t p = w.pending_count();
      if (p > max_seen.load(std::memory_order_relaxed))
        max_seen.store(p, std::memory_order_relaxed);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> producers;
  for (int t = 0; t < kProducers; ++t) {
    producers.emplace_back([&, t] {
      auto h = w.handle();
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int i = 0; i < kFrames; ++i) ASSERT_TRUE(send_retrying(h, make(t, i)).ok());
    });
  }
  go.store(true, std::memory_order_release);
  for (std::thread& p : producers) p.join();
  ASSERT_TRUE(w.close().ok());
  done.store(true, std::memory_order_release);
  sampler.join();
  // Drop policies: a byte ring's pending_count() may count a drop being
  // counted for an instant per producer, and frames may be dropped: what is
  // written is then an in-order subsequence per producer.
  constexpr bool kDrops = testing_internal::kDrops<typename TypeParam::backpressure_type>;
  EXPECT_LE(max_seen.load(), kDrops ? 8u + kProducers : 8u);

  absl::StatusOr<std::vector<bytes>> got = decode(out->contents());
  ASSERT_TRUE(got.ok()) << got.status();
  if constexpr (!kDrops) {
    ASSERT_EQ(got->size(), static_cast<std::size_t>(kProducers * kFrames));
  }
  std::vector<int> next(kProducers, 0);
  for (const bytes& b : *got) {
    const auto [t, i] = ids(b.as_string_view());
    ASSERT_TRUE(t >= 0 && t < kProducers) << t;
    if constexpr (kDrops) {
      ASSERT_GE(i, next[t]) << "producer " << t << " out of order";
      next[t] = i + 1;
    } else {
      ASSERT_EQ(i, next[t]++) << "producer " << t << " out of order";
    }
    ASSERT_EQ(b.as_string_view(), body(t, i)) << "producer " << t << " frame " << i;
  }
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, static_cast<std::uint64_t>(kProducers * kFrames));
  EXPECT_EQ(st.frames_written, got->size());
  EXPECT_EQ(st.frames_written + st.frames_dropped, st.frames_accepted);
  EXPECT_EQ(st.frames_lost, 0u);
}

}  // namespace
}  // namespace funnel
