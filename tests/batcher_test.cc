// The batcher models through a real writer: what each batch holds, that the
// stream stays byte-identical, and the writer's flush().
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/policies/batcher/coalescing_batcher.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/batcher/linger_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/memory_sink.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing_internal::decode_all;
using testing_internal::gated_sink;
using testing_internal::make_frame;
using testing_internal::wire_bytes;

template <class Bt>
using gated_writer = basic_writer<mpsc_ring<outbound_frame>, gated_sink, sleep_backpressure, Bt>;

static_assert(batcher<byte_batcher> && !batcher_with_linger<byte_batcher>);
static_assert(batcher_with_linger<linger_batcher>);
static_assert(batcher_with_coalescing<coalescing_batcher> &&
              !batcher_with_coalescing<count_batcher>);

// Holds the writer on a first frame, queues `payloads`, releases it, and
// returns the gated sink's state once everything is written.
template <class Bt>
std::shared_ptr<gated_sink::state> run_held(Bt batcher, const std::vector<std::string>& payloads) {
  gated_sink sink;
  auto s = sink.s;
  gated_writer<Bt> w(std::move(sink), writer_options{}, sleep_backpressure{}, batcher);
  auto h = w.handle();
  EXPECT_TRUE(h.send(make_frame(1000, "held")).ok());
  s->g.await_arrivals(1);
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    EXPECT_TRUE(h.send(make_frame(static_cast<std::uint32_t>(i), payloads[i])).ok());
  }
  s->g.open();
  EXPECT_TRUE(w.close().ok());
  return s;
}

std::string expected_stream(const std::vector<std::string>& payloads) {
  std::string out = wire_bytes(1000, "held");
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    out += wire_bytes(static_cast<std::uint32_t>(i), payloads[i]);
  }
  return out;
}

TEST(ByteBatcher, StopsBeforeABatchExceedsTheByteLimit) {
  // Frames of 11 + 89 = 100 bytes; limit 250 bytes: two frames per batch.
  std::vector<std::string> payloads(5, std::string(89, 'p'));
  payloads.push_back(std::string(1000, 'L'));  // alone larger than the limit
  payloads.push_back(std::string(89, 'q'));
  auto s = run_held(byte_batcher(250), payloads);
  absl::MutexLock lock(&s->mu);
  EXPECT_EQ(s->data, expected_stream(payloads));
  // held | 2 | 2 | 1 + (the 5th frame cannot join the 1000-byte one) | big alone | last
  EXPECT_EQ(s->batch_ranges, (std::vector<std::size_t>{2, 4, 4, 2, 2, 2}));
}

TEST(CoalescingBatcher, SmallFramesBecomeOneRangeAndTheStreamIsIdentical) {
  std::vector<std::string> payloads;
  for (int i = 0; i < 20; ++i) payloads.push_back(std::string(16, 'a' + i));
  auto s = run_held(coalescing_batcher(), payloads);
  absl::MutexLock lock(&s->mu);
  EXPECT_EQ(s->data, expected_stream(payloads));
  EXPECT_EQ(s->batch_ranges, (std::vector<std::size_t>{1, 1}));
}

TEST(CoalescingBatcher, LargePayloadsAreReferencedBetweenCoalescedRuns) {
  std::vector<std::string> payloads = {"tiny", std::string(4096, 'B'), "x",
                                       "y",    std::string(600, 'C'),  ""};
  auto s = run_held(coalescing_batcher({.max_frames = 64, .coalesce_below = 512}), payloads);
  absl::MutexLock lock(&s->mu);
  EXPECT_EQ(s->data, expected_stream(payloads));
  // Batch 2: [hdr tiny hdr] [B...] [hdr x hdr y hdr] [C...] [hdr] = 5 ranges.
  EXPECT_EQ(s->batch_ranges, (std::vector<std::size_t>{1, 5}));
}

TEST(CoalescingBatcher, EveryShortWriteSizeStillGivesTheExactStream) {
  std::vector<std::string> payloads = {"a", std::string(700, 'B'), "cc", "", std::string(30, 'd')};
  std::string expected;
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    expected += wire_bytes(static_cast<std::uint32_t>(i), payloads[i]);
  }
  for (std::size_t k : {1, 2, 3, 7, 11, 12, 64, 500, 711, 5000}) {
    memory_sink sink(memory_sink::options{.max_bytes_per_write = k});
    auto buffer = sink.buffer();
    basic_writer<mpsc_ring<outbound_frame>, memory_sink, sleep_backpressure, coalescing_batcher> w(
        std::move(sink));
    auto h = w.handle();
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      ASSERT_TRUE(h.send(make_frame(static_cast<std::uint32_t>(i), payloads[i])).ok());
    }
    ASSERT_TRUE(w.close().ok());
    EXPECT_EQ(buffer->contents(), expected) << "k = " << k;
  }
}

TEST(LingerBatcher, ZeroLingerWritesAtOnce) {
  memory_sink sink;
  auto buffer = sink.buffer();
  basic_writer<mpsc_ring<outbound_frame>, memory_sink, sleep_backpressure, linger_batcher> w(
      std::move(sink));
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(1, "x")).ok());
  ASSERT_TRUE(w.flush().ok());  // would hang if the writer lingered forever
  EXPECT_EQ(buffer->contents(), wire_bytes(1, "x"));
}

TEST(LingerBatcher, ALoneFrameWaitsForCompanions) {
  // A long linger: the frames sent one after another, each well before the
  // linger runs out, end up in one batch. (A lower bound only: the batch is
  // closed by the 8th frame reaching `small`, not by time.)
  gated_sink sink;
  auto s = sink.s;
  s->g.open();
  basic_writer<mpsc_ring<outbound_frame>, gated_sink, sleep_backpressure, linger_batcher> w(
      std::move(sink), writer_options{}, sleep_backpressure{},
      linger_batcher({.max_frames = 64, .small = 8, .linger = absl::Seconds(30)}));
  auto h = w.handle();
  for (int i = 0; i < 8; ++i) ASSERT_TRUE(h.send(make_frame(i, "z")).ok());
  ASSERT_TRUE(w.flush().ok());
  {
    absl::MutexLock lock(&s->mu);
    EXPECT_EQ(s->batch_ranges, (std::vector<std::size_t>{16}));
  }
  // And close() does not wait out a linger: the closed queue ends it.
  ASSERT_TRUE(h.send(make_frame(9, "z")).ok());
  const absl::Time start = absl::Now();
  ASSERT_TRUE(w.close().ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(30));
  absl::MutexLock lock(&s->mu);
  EXPECT_EQ(s->batch_ranges.size(), 2u);
}

TEST(WriterFlush, ReturnsOnceEverythingAcceptedBeforeIsWritten) {
  gated_sink sink;
  auto s = sink.s;
  gated_writer<count_batcher> w(std::move(sink));
  auto h = w.handle();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(h.send(make_frame(i, "f")).ok());
  absl::Notification flushed;
  std::thread flusher([&] {
    EXPECT_TRUE(w.flush().ok());
    flushed.Notify();
  });
  s->g.await_arrivals(1);
  while (w.stats().flush_waiters < 1) std::this_thread::yield();  // the flusher waits
  EXPECT_FALSE(flushed.HasBeenNotified());  // the writer is held inside write()
  s->g.open();
  flusher.join();
  {
    absl::MutexLock lock(&s->mu);
    EXPECT_EQ(decode_all(s->data).size(), 10u);  // all of them, right at return
  }
  EXPECT_TRUE(w.flush().ok());  // nothing pending: returns at once
  ASSERT_TRUE(w.close().ok());
  EXPECT_TRUE(w.flush().ok());  // after a clean close
}

TEST(WriterFlush, ConcurrentProducersAndFlushers) {
  memory_sink sink;
  auto buffer = sink.buffer();
  basic_writer<mpsc_ring<outbound_frame>, memory_sink, sleep_backpressure, count_batcher> w(
      std::move(sink));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      auto h = w.handle();
      for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE(h.send(make_frame(t * 1000 + i, "payload")).ok());
        if (i % 50 == 49) {
          ASSERT_TRUE(w.flush().ok());
          // Everything this thread sent so far is in the sink now.
          std::size_t mine = 0;
          for (const decoded_frame& f : decode_all(buffer->contents())) {
            mine += f.header.request_id / 1000 == static_cast<std::uint32_t>(t);
          }
          EXPECT_GE(mine, static_cast<std::size_t>(i + 1));
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(decode_all(buffer->contents()).size(), 800u);
}

struct failing_after_first {
  int calls = 0;
  absl::StatusOr<std::size_t> write(std::span<const const_buffer> b) {
    if (calls++ == 0) return total_size(b);
    return absl::DataLossError("injected: medium failed");
  }
};

TEST(WriterFlush, ReportsTheFailureWhenTheWriterStops) {
  basic_writer<mpsc_ring<outbound_frame>, failing_after_first, sleep_backpressure, count_batcher> w(
      failing_after_first{});
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(1, "ok")).ok());
  ASSERT_TRUE(w.flush().ok());
  ASSERT_TRUE(h.send(make_frame(2, "doomed")).ok());
  absl::Status st = w.flush();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_NE(st.message().find("DATA_LOSS"), std::string::npos) << st;
  EXPECT_NE(st.message().find("medium failed"), std::string::npos) << st;
}

}  // namespace
}  // namespace funnel
