// The Observer through the policy matrix (tests/policy_matrix.h): every queue
// x backpressure x batcher, with a counting observer added on the observer
// axis (with_observer), must report batches that add up to stats() exactly.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "funnel/basic_writer.h"
#include "funnel/observer.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/policy_set.h"
#include "funnel/procwire/frame.h"
#include "gtest/gtest.h"
#include "tests/policy_matrix.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing_internal::make_frame;
using testing_internal::send_retrying;

// Stateful, writer thread only: plain counters, read after close() joined
// the writer thread.
struct counting_observer {
  struct counts {
    std::uint64_t reports = 0, frames = 0, bytes = 0, write_calls = 0, producer_waits = 0;
    bool max_within_sum = true;
  };
  std::shared_ptr<counts> c = std::make_shared<counts>();

  void on_batch(const batch_report& r) {
    ++c->reports;
    c->frames += r.frames;
    c->bytes += r.bytes;
    c->write_calls += r.write_calls;
    c->producer_waits += r.producer_waits;
    c->max_within_sum = c->max_within_sum && r.max_write_call <= r.write_time && r.frames > 0;
  }
};

using all_combinations = testing_internal::policy_matrix_types<outbound_frame, memory_sink>;

template <class Preset>
class ObserverMatrix : public ::testing::Test {};
TYPED_TEST_SUITE(ObserverMatrix, all_combinations);

TYPED_TEST(ObserverMatrix, ReportsSumToStats) {
  using writer_type = writer_for<with_observer<TypeParam, counting_observer>>;
  static_assert(std::is_same_v<typename writer_type::observer_type, counting_observer>);
  counting_observer obs;
  writer_options o;
  o.max_pending_frames = 16;  // small: producers wait, batches split
  writer_type w(memory_sink{}, o, {}, {}, obs);
  constexpr int kProducers = 3, kPerProducer = 300;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&w, p] {
      auto h = w.handle();
      for (int i = 0; i < kPerProducer; ++i) {
        // Sizes from 8 to 700 bytes: the byte ring copies some, moves others in.
        const std::size_t size = 8 + static_cast<std::size_t>((i * 37 + p * 11) % 693);
        ASSERT_TRUE(send_retrying(h, make_frame(static_cast<std::uint32_t>(i),
                                                std::string(size, static_cast<char>('a' + p))))
                        .ok());
      }
    });
  }
  for (std::thread& t : producers) t.join();
  ASSERT_TRUE(w.close().ok());
  const writer_stats s = w.stats();
  // Every frame is written, or dropped by a drop policy (never lost here).
  EXPECT_EQ(s.frames_accepted, std::uint64_t{kProducers * kPerProducer});
  EXPECT_EQ(s.frames_written + s.frames_dropped, s.frames_accepted);
  EXPECT_EQ(s.frames_lost, 0u);
  if constexpr (!dropping_backpressure<typename TypeParam::backpressure_type>) {
    EXPECT_EQ(s.frames_dropped, 0u);
  }
  EXPECT_EQ(obs.c->reports, s.batches);
  EXPECT_EQ(obs.c->frames, s.frames_written);
  EXPECT_EQ(obs.c->bytes, s.bytes_written);
  EXPECT_EQ(obs.c->write_calls, s.write_calls);
  EXPECT_EQ(obs.c->producer_waits, s.backpressure_waits);
  EXPECT_TRUE(obs.c->max_within_sum);
}

}  // namespace
}  // namespace funnel
