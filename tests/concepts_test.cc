// The policy concepts accept every model funnel ships and reject policies
// that miss a member. (That the rejection reads as a sentence naming the
// member is checked by compile_fail_test.)
#include "funnel/concepts.h"

#include <cstddef>
#include <span>

#include "funnel/funnel.h"
#include "gtest/gtest.h"

namespace funnel {
namespace {

// --- shipped models ----------------------------------------------------------
static_assert(queue<mpsc_ring<outbound_frame>>);
static_assert(sink<posix_writev_sink>);
static_assert(sink_with_thread_start<posix_writev_sink>);
static_assert(sink<memory_sink>);
static_assert(!flushable_sink<memory_sink>);
static_assert(backpressure<sleep_backpressure>);
static_assert(batcher<count_batcher>);

// --- near misses ---------------------------------------------------------------
struct queue_without_pop_wait {
  using value_type = outbound_frame;
  explicit queue_without_pop_wait(std::size_t) {}
  bool try_push(outbound_frame&) { return true; }
  bool try_pop(outbound_frame&) { return false; }
  void close() {}
  std::size_t capacity() const { return 1; }
};
static_assert(!queue<queue_without_pop_wait>);
static_assert(!queue_has_pop_wait<queue_without_pop_wait>);
static_assert(queue_has_try_push<queue_without_pop_wait>);

struct queue_without_capacity_ctor {
  using value_type = outbound_frame;
  bool try_push(outbound_frame&) { return true; }
  bool try_pop(outbound_frame&) { return false; }
  bool pop_wait(outbound_frame&, absl::Time) { return false; }
  void close() {}
  std::size_t capacity() const { return 1; }
};
static_assert(!queue<queue_without_capacity_ctor>);

struct sink_returning_int {
  int write(std::span<const const_buffer>) { return 0; }
};
static_assert(!sink<sink_returning_int>);
static_assert(!sink_has_write<sink_returning_int>);

struct sink_taking_iovec_like {
  absl::StatusOr<std::size_t> write(std::span<const std::byte>) { return 0; }
};
static_assert(!sink<sink_taking_iovec_like>);

struct immovable_sink {
  immovable_sink() = default;
  immovable_sink(immovable_sink&&) = delete;
  absl::StatusOr<std::size_t> write(std::span<const const_buffer>) { return 0; }
};
static_assert(sink_has_write<immovable_sink> && !sink<immovable_sink>);

struct flush_returning_void {
  absl::StatusOr<std::size_t> write(std::span<const const_buffer>) { return 0; }
  void flush() {}
};
static_assert(sink<flush_returning_void> && !flushable_sink<flush_returning_void>);

struct backpressure_without_notify {
  bool wait(absl::FunctionRef<bool()> ready, absl::Time) { return ready(); }
};
static_assert(!backpressure<backpressure_without_notify>);
static_assert(backpressure_has_wait<backpressure_without_notify>);

struct backpressure_polling_a_bool {
  bool wait(bool ready, absl::Time) { return ready; }
  void notify() {}
};
static_assert(!backpressure<backpressure_polling_a_bool>);

struct batcher_without_hint {
  bool admits(const batch_stats&, std::size_t) const { return true; }
};
static_assert(!batcher<batcher_without_hint>);

struct batcher_with_mutating_admits {
  bool admits(const batch_stats&, std::size_t) { return true; }  // not const
  std::size_t max_frames_hint() const { return 1; }
};
static_assert(!batcher<batcher_with_mutating_admits>);

TEST(Concepts, AreCheckedAtCompileTime) {
  // Everything above is a static_assert; this test exists so the file is run
  // (and so a build that silently drops it shows up as a missing test).
  SUCCEED();
}

}  // namespace
}  // namespace funnel
