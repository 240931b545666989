// The Frame concept from the writer's side: frame_ranges, a frame type that
// is not procwire going through a writer byte-exact (with and without
// coalescing), send()/try_send() of a StatusOr, and event_count::await.
#include <array>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/event_count.h"
#include "funnel/frame.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/batcher/coalescing_batcher.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/procwire/frame.h"
#include "gtest/gtest.h"

namespace funnel {
namespace {

// A frame of three ranges: a 1-byte tag, an owned text, a 1-byte terminator.
// Owns its bytes (std::string: moving may move them, which the concept
// allows: ranges are taken only while the frame sits still in a batch).
class tagged_text {
 public:
  static constexpr std::size_t max_ranges = 3;
  tagged_text() = default;
  tagged_text(char tag, std::string text)
      : tag_(static_cast<std::byte>(tag)), text_(std::move(text)) {}
  tagged_text(tagged_text&& o) noexcept
      : tag_(std::exchange(o.tag_, std::byte{0})), text_(std::move(o.text_)) {}
  tagged_text& operator=(tagged_text&& o) noexcept {
    tag_ = std::exchange(o.tag_, std::byte{0});
    text_ = std::move(o.text_);
    return *this;
  }
  bool valid() const noexcept { return tag_ != std::byte{0}; }
  std::size_t size() const noexcept { return valid() ? text_.size() + 2 : 0; }
  frame_ranges<max_ranges> wire() const noexcept {
    frame_ranges<max_ranges> r;
    if (!valid()) return r;
    r.add(&tag_, 1);
    r.add(reinterpret_cast<const std::byte*>(text_.data()), text_.size());  // skipped when empty
    r.add(&kEnd, 1);
    return r;
  }

 private:
  static constexpr std::byte kEnd{'|'};
  std::byte tag_{0};
  std::string text_;
};
static_assert(check_frame<tagged_text>());
static_assert(frame<outbound_frame>);
static_assert(!frame<int>);

TEST(FrameRanges, SkipsEmptyRangesAndKeepsOrder) {
  const std::array<std::byte, 4> a{};
  frame_ranges<3> r;
  r.add(a.data(), 2);
  r.add(a.data(), 0);
  r.add(a.data() + 2, 2);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0], (const_buffer{a.data(), 2}));
  EXPECT_EQ(r[1], (const_buffer{a.data() + 2, 2}));
}

TEST(FrameRanges, ProcwireFrameIsHeaderThenPayloadAndNothingWhenEmpty) {
  outbound_frame f = *outbound_frame::make(7, 0, 1, bytes::copy_from("abc"));
  ASSERT_EQ(f.wire().size(), 2u);
  EXPECT_EQ(f.wire()[0].size, kHeaderSize);
  EXPECT_EQ(f.wire()[1].size, 3u);
  EXPECT_EQ(outbound_frame::empty({.method_id = 7})->wire().size(), 1u);  // no payload range
  outbound_frame g = std::move(f);
  EXPECT_TRUE(f.wire().empty());  // NOLINT(bugprone-use-after-move): the empty state is the point
  EXPECT_EQ(g.wire().size(), 2u);
}

template <class Batcher>
std::string write_through(std::vector<tagged_text> frames, Batcher batcher = {}) {
  memory_sink sink;
  auto out = sink.buffer();
  basic_writer<mpsc_ring<tagged_text>, memory_sink, sleep_backpressure, Batcher> w(std::move(sink),
                                                                                   {}, {}, batcher);
  auto h = w.handle();
  for (tagged_text& f : frames) EXPECT_TRUE(h.send(std::move(f)).ok());
  EXPECT_TRUE(w.close().ok());
  return out->contents();
}

std::vector<tagged_text> sample() {
  std::vector<tagged_text> v;
  v.emplace_back('a', "one");
  v.emplace_back('b', "");
  v.emplace_back('c', std::string(300, 'x'));
  v.emplace_back('d', "four");
  return v;
}

TEST(CustomFrame, GoesThroughTheWriterByteExact) {
  const std::string want = "aone|b|c" + std::string(300, 'x') + "|dfour|";
  EXPECT_EQ(write_through<count_batcher>(sample()), want);
  // Coalescing copies every range shorter than 16 bytes; the 300-byte text
  // stays a reference between two staged runs. Same bytes either way.
  EXPECT_EQ(write_through<coalescing_batcher>(sample(), coalescing_batcher({.coalesce_below = 16})),
            want);
  EXPECT_EQ(write_through<coalescing_batcher>(sample(), coalescing_batcher({.coalesce_below = 0})),
            want);
}

TEST(SendStatusOr, ReturnsTheBuildErrorUnsentOrSendsTheFrame) {
  memory_sink sink;
  auto out = sink.buffer();
  basic_writer<mpsc_ring<outbound_frame>, memory_sink, sleep_backpressure, count_batcher> w(
      std::move(sink));
  auto h = w.handle();
  const absl::Status bad = h.send(outbound_frame::make(/*method_id=*/0, 0, 1, bytes()));
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("method_id 0"), std::string::npos) << bad;
  EXPECT_EQ(h.try_send(outbound_frame::make(0, 0, 1, bytes())).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(h.send(outbound_frame::make(1, 0, 1, bytes::copy_from("x"))).ok());
  EXPECT_TRUE(h.try_send(outbound_frame::make(1, 0, 2, bytes())).ok());
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_accepted, 2u);
  EXPECT_EQ(out->size(), 2 * kHeaderSize + 1);
}

TEST(EventCount, AwaitTimesOutWithTheConditionFalse) {
  event_count ec;
  const absl::Time start = absl::Now();
  EXPECT_FALSE(ec.await([] { return false; }, start + absl::Milliseconds(20)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));
  EXPECT_EQ(ec.waiters(), 0u);
}

TEST(EventCount, AwaitWakesOnNotifyAfterTheConditionTurnsTrue) {
  event_count ec;
  std::atomic<bool> flag{false};
  std::thread notifier([&] {
    // Wait until the waiter has announced itself, so the wake-up, not the
    // first check, is what the test exercises.
    while (ec.waiters() == 0) std::this_thread::yield();
    flag.store(true, std::memory_order_release);
    ec.notify_all();
  });
  EXPECT_TRUE(
      ec.await([&] { return flag.load(std::memory_order_acquire); }, absl::InfiniteFuture()));
  notifier.join();
}

}  // namespace
}  // namespace funnel
