// What a hostile but realistic user does to a writer, and what must happen:
// frames that break the Frame laws (size 0, size() against wire(), more
// ranges than max_ranges), close() and flush() from the writer's own thread,
// a Backpressure whose notify() throws on close(), option values too large
// to represent or allocate. Each test failed on the commit before its fix
// (a hang, a crash, an exception out of a constructor, or a corrupt stream).
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/frame.h"
#include "funnel/options.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/batcher/coalescing_batcher.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/byte_ring.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/memory_sink.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing_internal::watchdog;

// A frame whose laws a test may break: size() is the payload's size plus
// `delta`; wire() gives the payload in `pieces` ranges (more than max_ranges
// when asked to).
struct test_frame {
  static constexpr std::size_t max_ranges = 2;
  std::shared_ptr<const std::string> payload;  // null: the empty frame
  long delta = 0;
  int pieces = 1;
  // If set, wire() tells `entered` and then waits for `release` (user code
  // that runs slowly inside a send).
  struct hold {
    absl::Notification entered, release;
  };
  std::shared_ptr<hold> held;

  static test_frame of(std::string s, long delta = 0, int pieces = 1) {
    return test_frame{std::make_shared<const std::string>(std::move(s)), delta, pieces, nullptr};
  }
  bool valid() const noexcept { return payload != nullptr; }
  std::size_t size() const noexcept {
    return payload ? static_cast<std::size_t>(static_cast<long>(payload->size()) + delta) : 0;
  }
  frame_ranges<max_ranges> wire() const noexcept {
    frame_ranges<max_ranges> r;
    if (!payload) return r;
    if (held) {
      if (!held->entered.HasBeenNotified()) held->entered.Notify();
      held->release.WaitForNotification();
    }
    const auto* p = reinterpret_cast<const std::byte*>(payload->data());
    const std::size_t n = payload->size(), k = static_cast<std::size_t>(pieces);
    for (std::size_t i = 0; i < k; ++i) r.add(p + n * i / k, n * (i + 1) / k - n * i / k);
    return r;
  }
};

using ring_writer =
    basic_writer<byte_ring<test_frame>, memory_sink, sleep_backpressure, count_batcher>;
using frame_writer =
    basic_writer<mpsc_ring<test_frame>, memory_sink, sleep_backpressure, count_batcher>;
using coalescing_writer =
    basic_writer<mpsc_ring<test_frame>, memory_sink, sleep_backpressure, coalescing_batcher>;

template <class W>
void expect_balanced(const W& w) {
  const writer_stats s = w.stats();
  EXPECT_EQ(s.frames_accepted, s.frames_written + s.frames_lost + s.frames_dropped);
}

// ---- Frame laws ---------------------------------------------------------------

template <class W>
void zero_size_frames_are_refused() {
  memory_sink sink;
  auto buffer = sink.buffer();
  W w(std::move(sink));
  auto h = w.handle();
  const absl::Status s = h.send(test_frame::of(""));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "size() is 0")) << s;
  EXPECT_EQ(h.try_send(test_frame::of("")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(h.send(test_frame::of("ok")).ok());
  EXPECT_TRUE(w.flush(absl::Now() + absl::Seconds(10)).ok()) << "a refused frame is not waited for";
  EXPECT_EQ(w.pending_count(), 0u);
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(buffer->contents(), "ok");
  EXPECT_EQ(w.stats().frames_accepted, 1u);
  expect_balanced(w);
}

TEST(FrameLaws, AValidFrameOfSizeZeroIsRefusedOnTheByteRing) {
  zero_size_frames_are_refused<ring_writer>();
}
TEST(FrameLaws, AValidFrameOfSizeZeroIsRefusedOnAFrameQueue) {
  zero_size_frames_are_refused<frame_writer>();
}
TEST(FrameLaws, AValidFrameOfSizeZeroIsRefusedByTheExpressLane) {
  frame_writer w{memory_sink{}};
  EXPECT_EQ(w.handle().send_express(test_frame::of("")).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_accepted, 0u);
}

TEST(FrameLaws, TheRingRefusesAFrameWhoseSizeDisagreesWithItsWireBytes) {
  memory_sink sink;
  auto buffer = sink.buffer();
  ring_writer w(std::move(sink));
  auto h = w.handle();
  ASSERT_TRUE(h.send(test_frame::of("first")).ok());
  for (const long delta : {3L, -3L}) {
    const absl::Status s = h.send(test_frame::of("liar-liar", delta));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_TRUE(absl::StrContains(s.message(), "wire() ranges hold 9 bytes")) << s;
  }
  ASSERT_TRUE(h.send(test_frame::of("last")).ok());
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(buffer->contents(), "firstlast") << "no stale or overrun bytes between them";
  EXPECT_EQ(w.stats().frames_accepted, 2u);
  expect_balanced(w);
}

TEST(FrameLaws, TheRingRefusesAFrameWithMoreRangesThanItsMaxRanges) {
  memory_sink sink;
  auto buffer = sink.buffer();
  ring_writer w(std::move(sink));
  const absl::Status s = w.handle().send(test_frame::of("abcdef", 0, 3));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "max_ranges, 2")) << s;
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(buffer->contents(), "");
}

// A frame queue moves the frame object; its writer checks the laws where it
// reads wire() anyway, and stops before writing the batch that holds it.
template <class W>
void frame_queue_writer_stops_before_a_lawless_batch(test_frame bad, const char* text) {
  memory_sink sink;
  auto buffer = sink.buffer();
  W w(std::move(sink));
  auto h = w.handle();
  ASSERT_TRUE(h.send(test_frame::of("good")).ok());
  ASSERT_TRUE(w.flush().ok());
  ASSERT_TRUE(h.send(std::move(bad)).ok());
  const absl::Status s = w.close(absl::Now() + absl::Seconds(10));
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), text)) << s;
  EXPECT_EQ(buffer->contents(), "good") << "nothing of the bad frame's batch is written";
  EXPECT_EQ(w.stats().frames_lost, 1u);
  expect_balanced(w);
}

TEST(FrameLaws, AFrameQueueWriterStopsBeforeAFrameWhoseSizeDisagreesWithItsWire) {
  frame_queue_writer_stops_before_a_lawless_batch<frame_writer>(test_frame::of("liar-liar", -3),
                                                                "wire() ranges hold 9 bytes");
  frame_queue_writer_stops_before_a_lawless_batch<coalescing_writer>(test_frame::of("liar-liar", 3),
                                                                     "wire() ranges hold 9 bytes");
}

TEST(FrameLaws, AFrameQueueWriterStopsBeforeAFrameWithTooManyRanges) {
  frame_queue_writer_stops_before_a_lawless_batch<frame_writer>(test_frame::of("abcdef", 0, 3),
                                                                "max_ranges, 2");
}

TEST(FrameLaws, FrameRangesNeverStoreMoreThanTheirCapacity) {
  const std::byte b[4]{};
  frame_ranges<2> r;
  for (int i = 0; i < 4; ++i) r.add(b + i, 1);
  EXPECT_EQ(r.size(), 2u);
  EXPECT_TRUE(r.overflowed());
  EXPECT_EQ(r.total(), 2u);
}

// ---- close() and flush() on the writer's own thread ------------------------------

// A hook the writer thread runs once, from an Observer's on_batch or from a
// Sink's write(). Set before the first send: the queue's push/pop orders it
// before the writer thread reads it.
struct once_hook {
  std::function<void()> run;
  absl::Notification ran;
  void fire() {
    if (run && !ran.HasBeenNotified()) {
      run();
      ran.Notify();
    }
  }
};

struct hook_observer {
  std::shared_ptr<once_hook> hook = std::make_shared<once_hook>();
  void on_batch(const batch_report&) { hook->fire(); }
};

struct hook_sink {
  std::shared_ptr<once_hook> hook = std::make_shared<once_hook>();
  memory_sink inner;
  absl::StatusOr<std::size_t> write(std::span<const const_buffer> b) {
    hook->fire();
    return inner.write(b);
  }
};

template <class W>
void close_from_the_writer_thread(W& w, once_hook& hook,
                                  const std::shared_ptr<const memory_sink_buffer>& buffer) {
  absl::Status close_status, flush_status;
  hook.run = [&] {
    flush_status = w.flush(absl::Now() + absl::Seconds(1));
    close_status = w.close(absl::Now() + absl::Seconds(1));
  };
  auto h = w.handle();
  ASSERT_TRUE(h.send(test_frame::of("one")).ok());
  {
    watchdog dog("close() and flush() from the writer's own thread");
    hook.ran.WaitForNotification();
  }
  EXPECT_EQ(flush_status.code(), absl::StatusCode::kFailedPrecondition) << flush_status;
  EXPECT_TRUE(absl::StrContains(flush_status.message(), "writer's own thread")) << flush_status;
  EXPECT_EQ(close_status.code(), absl::StatusCode::kFailedPrecondition) << close_status;
  EXPECT_TRUE(absl::StrContains(close_status.message(), "the close has begun")) << close_status;
  // The close has begun: later sends are refused, and the owner's close()
  // returns once the accepted frame is written.
  EXPECT_EQ(h.send(test_frame::of("late")).code(), absl::StatusCode::kFailedPrecondition);
  {
    watchdog dog("the owner's close() after a close from the writer thread");
    EXPECT_TRUE(w.close(absl::Now() + absl::Seconds(20)).ok());
  }
  EXPECT_EQ(buffer->contents(), "one");
  EXPECT_EQ(w.stats().frames_written, 1u);
}

TEST(SelfClose, CloseAndFlushFromAnObserverNeverWaitForTheWriterItself) {
  memory_sink sink;
  auto buffer = sink.buffer();
  hook_observer obs;
  auto hook = obs.hook;
  basic_writer<mpsc_ring<test_frame>, memory_sink, sleep_backpressure, count_batcher, hook_observer>
      w(std::move(sink), writer_options{}, sleep_backpressure{}, count_batcher{}, obs);
  close_from_the_writer_thread(w, *hook, buffer);
}

TEST(SelfClose, CloseAndFlushFromASinkWriteNeverWaitForTheWriterItself) {
  hook_sink sink;
  auto hook = sink.hook;
  auto buffer = sink.inner.buffer();
  basic_writer<byte_ring<test_frame>, hook_sink, sleep_backpressure, count_batcher> w(
      std::move(sink));
  close_from_the_writer_thread(w, *hook, buffer);
}

// ---- a policy that throws on close() ----------------------------------------------

// sleep_backpressure whose notify() throws once armed (all copies share the
// switch).
struct throwing_notify {
  std::shared_ptr<std::atomic<bool>> armed = std::make_shared<std::atomic<bool>>(false);
  sleep_backpressure inner;
  bool wait(absl::FunctionRef<bool()> ready, absl::Time deadline) const {
    return inner.wait(ready, deadline);
  }
  void notify() {
    if (armed->load()) throw std::runtime_error("notify() broke");
    inner.notify();
  }
};
using throwing_writer =
    basic_writer<mpsc_ring<test_frame>, memory_sink, throwing_notify, count_batcher>;

// A writer that has written one frame, whose notify() throws from now on.
std::unique_ptr<throwing_writer> writer_whose_notify_throws() {
  throwing_notify bp;
  auto w = std::make_unique<throwing_writer>(memory_sink{}, writer_options{}, bp);
  EXPECT_TRUE(w->handle().send(test_frame::of("x")).ok());
  EXPECT_TRUE(w->flush().ok());
  bp.armed->store(true);  // shared with the writer's copy
  return w;
}

TEST(CloseSafety, ANotifyThatThrowsOnCloseFailsTheWriterAndCloseReturnsAStatus) {
  std::unique_ptr<throwing_writer> w = writer_whose_notify_throws();
  absl::Status s;
  {
    watchdog dog("close() with a throwing notify()");
    EXPECT_NO_THROW(s = w->close(absl::Now() + absl::Seconds(10)));
  }
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "notify() broke")) << s;
  expect_balanced(*w);
}

TEST(CloseSafety, TheDestructorSurvivesANotifyThatThrows) {
  writer_whose_notify_throws().reset();  // ~basic_writer: close(now + shutdown_timeout)
  SUCCEED() << "the destructor did not terminate";
}

// ---- close(deadline) and user code on a producer's path ---------------------------

// A ring send runs the frame's wire() (user code) before it reserves its
// record, so a producer stuck in wire() holds nothing the writer waits for:
// close(deadline) returns on time. (Before the fix the record was reserved
// first, and the writer waited for its commit past any deadline.)
TEST(CloseSafety, AProducerStuckInsideWireDoesNotHoldCloseBeyondItsDeadline) {
  memory_sink sink;
  auto buffer = sink.buffer();
  ring_writer w(std::move(sink));
  auto h = w.handle();
  ASSERT_TRUE(h.send(test_frame::of("before")).ok());
  test_frame slow = test_frame::of("slow");
  slow.held = std::make_shared<test_frame::hold>();
  auto held = slow.held;
  absl::Status slow_status;
  std::thread producer([&] { slow_status = h.send(std::move(slow)); });
  held->entered.WaitForNotification();
  absl::Notification closed;
  absl::Status close_status;
  std::thread closer([&] {
    close_status = w.close(absl::Now() + absl::Milliseconds(300));
    closed.Notify();
  });
  // Generous: the point is that close() returns while the producer is stuck.
  EXPECT_TRUE(closed.WaitForNotificationWithTimeout(absl::Seconds(20)))
      << "close(now + 300 ms) waited for a producer stuck in user code";
  held->release.Notify();
  producer.join();
  closer.join();
  EXPECT_TRUE(close_status.ok()) << close_status;
  EXPECT_EQ(slow_status.code(), absl::StatusCode::kFailedPrecondition) << slow_status;
  EXPECT_EQ(buffer->contents(), "before");
  expect_balanced(w);
}

// ---- option values ---------------------------------------------------------------

template <class W>
void starts_failed_naming(const writer_options& o, const char* field, absl::StatusCode code) {
  std::unique_ptr<W> w;
  try {
    w = std::make_unique<W>(memory_sink{}, o);
  } catch (const std::exception& e) {
    FAIL() << field << ": the constructor threw " << e.what();
  }
  const absl::Status s = w->handle().send(test_frame::of("x"));
  EXPECT_EQ(s.code(), code) << field << ": " << s;
  EXPECT_TRUE(absl::StrContains(s.message(), field)) << s;
  EXPECT_EQ(w->close().code(), code);
}

TEST(Options, ValuesTooLargeToRepresentStartTheWriterFailedNamingTheField) {
  constexpr std::size_t kHuge = std::numeric_limits<std::size_t>::max();
  constexpr std::size_t k2to40 = std::size_t{1} << 40;
  const auto invalid = absl::StatusCode::kInvalidArgument;
  struct bad_value {
    const char* field;
    void (*set)(writer_options&);
    bool ring;  // also on a byte_ring writer
  };
  const bad_value cases[] = {
      {"express_capacity", [](writer_options& o) { o.express_capacity = kHuge; }, false},
      {"express_capacity", [](writer_options& o) { o.express_capacity = k2to40; }, false},
      {"max_pending_frames", [](writer_options& o) { o.max_pending_frames = k2to40; }, true},
      {"queue_capacity", [](writer_options& o) { o.queue_capacity = kHuge; }, false},
      {"max_pending_bytes", [](writer_options& o) { o.max_pending_bytes = kHuge; }, true},
  };
  for (const bad_value& c : cases) {
    writer_options o;
    c.set(o);
    starts_failed_naming<frame_writer>(o, c.field, invalid);
    if (c.ring) starts_failed_naming<ring_writer>(o, c.field, invalid);
  }
  writer_options o;
  o.claim_timeout = absl::ZeroDuration();
  starts_failed_naming<ring_writer>(o, "claim_timeout", invalid);
}

// A queue whose allocation fails: mpsc_ring that throws std::bad_alloc above
// 1000 frames (as a real allocation of that size would).
struct picky_ring : mpsc_ring<test_frame> {
  explicit picky_ring(std::size_t capacity)
      : mpsc_ring<test_frame>(capacity <= 1000 ? capacity : throw std::bad_alloc()) {}
};

TEST(Options, AQueueThatCannotBeAllocatedStartsTheWriterFailed) {
  writer_options o;
  o.max_pending_frames = 5000;
  using W = basic_writer<picky_ring, memory_sink, sleep_backpressure, count_batcher>;
  starts_failed_naming<W>(o, "max_pending_frames 5000", absl::StatusCode::kResourceExhausted);
  o.max_pending_frames = 500;
  o.queue_capacity = 0;  // 501 frames with the express lane's spare slot
  W fine(memory_sink{}, o);
  EXPECT_TRUE(fine.handle().send(test_frame::of("x")).ok());
  EXPECT_TRUE(fine.close().ok());
}

// A byte_ring writer that started failed says why to every send and claim,
// not that the frame exceeds its stand-in ring.
TEST(Options, AFailedByteRingWriterAnswersSendsWithItsCause) {
  writer_options o;
  o.max_pending_frames = std::size_t{1} << 23;  // above the ring's record limit
  ring_writer w(memory_sink{}, o);
  const absl::Status s = w.handle().send(test_frame::of(std::string(100, 'x')));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "max_pending_frames")) << s;
  const absl::StatusOr<ring_writer::handle_type::claim_type> c = w.handle().claim(100);
  EXPECT_TRUE(absl::StrContains(c.status().message(), "max_pending_frames")) << c.status();
}

}  // namespace
}  // namespace funnel
