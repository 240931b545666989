// The conformance suites run the way a downstream team runs them: against
// policies of its own, outside namespace funnel, instantiated as
// docs/testing.md shows ("Running funnel's conformance suites against your
// own policy"; the `// [name]` blocks are quoted there verbatim). funnel's own
// models run the same suites in tests/conformance/.
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/concepts.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/procwire/frame.h"
#include "funnel/testing/frame_factory.h"
#include "gtest/gtest.h"

// [conformance-include]
// Included by this .cc only, the one that instantiates the suites: the suite
// headers define tests, not just declarations.
#include "funnel/testing/backpressure_conformance.h"
#include "funnel/testing/batcher_conformance.h"
#include "funnel/testing/overflow_conformance.h"
#include "funnel/testing/queue_conformance.h"
#include "funnel/testing/sink_conformance.h"
// [conformance-include]

namespace my_team {

// A Queue: a bounded deque under one absl::Mutex. pop_wait sleeps in
// AwaitWithDeadline, which re-checks its condition whenever a pusher or
// close() releases the mutex, so no wake-up is lost and nothing spins.
// Thread-safety: every member from any thread.
class deque_queue {
 public:
  using value_type = funnel::outbound_frame;  // the frame type it carries
  explicit deque_queue(std::size_t capacity) : capacity_(capacity) {}

  bool try_push(funnel::outbound_frame& f) {
    absl::MutexLock lock(&mu_);
    if (frames_.size() >= capacity_) return false;
    frames_.push_back(std::move(f));
    return true;
  }

  bool try_pop(funnel::outbound_frame& f) {
    absl::MutexLock lock(&mu_);
    return pop_locked(f);
  }

  bool pop_wait(funnel::outbound_frame& f, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithDeadline(absl::Condition(this, &deque_queue::closed_or_nonempty), deadline);
    return pop_locked(f);
  }

  void close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }

  std::size_t capacity() const { return capacity_; }

 private:
  bool closed_or_nonempty() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return closed_ || !frames_.empty();
  }

  bool pop_locked(funnel::outbound_frame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (frames_.empty()) return false;
    f = std::move(frames_.front());
    frames_.pop_front();
    return true;
  }

  const std::size_t capacity_;
  absl::Mutex mu_;
  std::deque<funnel::outbound_frame> frames_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// A Backpressure policy: polls with exponential backoff, sleeping 1 us, 2 us,
// ... up to 1 ms between looks, never past the deadline. Trade-off: no
// wake-up cost for the writer, at the price of up to 1 ms of latency after a
// long wait. Thread-safety: stateless; wait() from many threads at once.
class backoff_backpressure {
 public:
  bool wait(absl::FunctionRef<bool()> ready, absl::Time deadline) const {
    absl::Duration pause = absl::Microseconds(1);
    for (;;) {
      if (ready()) return true;
      const absl::Time now = absl::Now();
      if (now >= deadline) return false;
      absl::SleepFor(std::min(pause, deadline - now));
      pause = std::min(2 * pause, absl::Milliseconds(1));
    }
  }

  void notify() const noexcept {}
};

// A Sink: appends to a string the test keeps, at most 4096 bytes per call,
// with flush() and cancel(). Thread-safety: write/flush on the writer thread;
// cancel() from any thread.
class string_sink {
 public:
  explicit string_sink(std::shared_ptr<std::string> out) : out_(std::move(out)) {}
  string_sink(string_sink&& other) noexcept
      : out_(std::move(other.out_)), cancelled_(other.cancelled_.load()) {}

  absl::StatusOr<std::size_t> write(std::span<const funnel::const_buffer> buffers) {
    // Acquire: pairs with the release in cancel().
    if (cancelled_.load(std::memory_order_acquire)) {
      return absl::CancelledError("string_sink: cancelled");
    }
    std::size_t room = 4096;
    for (const funnel::const_buffer& b : buffers) {
      const std::size_t take = std::min(room, b.size);
      out_->append(reinterpret_cast<const char*>(b.data), take);
      room -= take;
      if (room == 0) break;
    }
    return 4096 - room;
  }
  absl::Status flush() { return absl::OkStatus(); }
  void cancel() noexcept { cancelled_.store(true, std::memory_order_release); }

 private:
  std::shared_ptr<std::string> out_;
  std::atomic<bool> cancelled_{false};
};

// A Batcher: up to 16 frames and 8 KiB per batch. Thread-safety: immutable.
class small_batcher {
 public:
  bool admits(const funnel::batch_stats& st, std::size_t n) const {
    return st.frames < 16 && st.bytes + n <= 8192;
  }
  std::size_t max_frames_hint() const { return 16; }
};

static_assert(funnel::queue<deque_queue>);
static_assert(funnel::backpressure<backoff_backpressure>);
static_assert(funnel::sink<string_sink>);
static_assert(funnel::batcher<small_batcher>);

struct capped {};  // a tag: byte_batcher under the settings below

}  // namespace my_team

// [conformance-sink-traits]
// The Sink suite's harness for my_team::string_sink: owns the sink and reads
// back what it wrote. One per test, default-constructed.
template <>
struct funnel::testing::sink_conformance_traits<my_team::string_sink> {
  std::shared_ptr<std::string> out = std::make_shared<std::string>();
  my_team::string_sink s{out};

  my_team::string_sink& sink() { return s; }
  std::string finish() { return *out; }  // every byte written, in order
};
// [conformance-sink-traits]

// [conformance-batcher-traits]
template <>
struct funnel::testing::batcher_conformance_traits<my_team::capped> {
  using batcher_type = funnel::byte_batcher;                      // the batcher under test
  using frame_factory = funnel::testing::procwire_frame_factory;  // which frames to send
  static funnel::byte_batcher make() { return funnel::byte_batcher(2000, 16); }
};
// [conformance-batcher-traits]

// [conformance-instantiate]
// GoogleTest pastes the suite name into identifiers, so it cannot be written
// qualified: instantiate inside the suites' namespace, and spell GoogleTest's
// own namespace ::testing there.
namespace funnel::testing {

INSTANTIATE_TYPED_TEST_SUITE_P(MyTeam, QueueConformance, ::testing::Types<my_team::deque_queue>);
INSTANTIATE_TYPED_TEST_SUITE_P(MyTeam, BackpressureConformance,
                               ::testing::Types<my_team::backoff_backpressure>);
INSTANTIATE_TYPED_TEST_SUITE_P(MyTeam, SinkConformance, ::testing::Types<my_team::string_sink>);
// small_batcher: default traits (default-constructed, procwire frames).
// A list of types goes through an alias: the macro would split it at the comma.
using my_batchers = ::testing::Types<my_team::small_batcher, my_team::capped>;
INSTANTIATE_TYPED_TEST_SUITE_P(MyTeam, BatcherConformance, my_batchers);

}  // namespace funnel::testing
// [conformance-instantiate]

// [conformance-overflow]
// A Backpressure policy that drops instead of waiting: at a full bound the
// new frame is shed and handed to `on_drop` (a metric, a log line). The suite
// builds it with its drop_recorder, to check what the callback saw too.
namespace my_team {

template <class OnDrop>
class shed_newest {
 public:
  static constexpr funnel::overflow_action overflow = funnel::overflow_action::drop_newest;
  explicit shed_newest(OnDrop on_drop) : on_drop_(std::move(on_drop)) {}

  // Never called for a policy that drops; present for the concept.
  bool wait(absl::FunctionRef<bool()> ready, absl::Time /*deadline*/) const { return ready(); }
  void notify() const noexcept {}
  // Producer threads, concurrently: each dropped frame, once.
  void on_drop(const funnel::outbound_frame& f) { on_drop_(f); }

 private:
  OnDrop on_drop_;
};

}  // namespace my_team

namespace funnel::testing {
INSTANTIATE_TYPED_TEST_SUITE_P(MyTeam, OverflowConformance,
                               ::testing::Types<my_team::shed_newest<conformance::drop_recorder>>);
}  // namespace funnel::testing
// [conformance-overflow]
