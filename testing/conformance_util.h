// funnel/testing/conformance_util.h
// -----------------------------------------------------------------------------
// Support code for the conformance suites (funnel/testing/queue_conformance.h,
// funnel/testing/backpressure_conformance.h), in
// `funnel::testing::conformance`:
//
//   * `make_frame(id, payload)`: a valid frame in one line (the test fails if
//     it is not); `shared_payload(owner)`: a payload that shares `owner`, so a
//     test can watch owner.use_count() to see who still holds it;
//   * `tagged_id(producer, seq)`, `producer_of(id)`, `seq_of(id)`: request ids
//     that say who sent a frame and in which order;
//   * `run_producers(n, body)`: n threads that start together, joined;
//     `max_sampler`: the largest value a reading took meanwhile;
//   * `counter`: threads bump it, others block until it reaches a value (no
//     polling, no sleeps);
//   * `gated_sink`: a Sink that holds the writer thread inside write() until
//     the test opens the gate, and records the bytes and each call's size;
//   * `kPatience`: the deadline that only turns a lost wake-up into a failure
//     instead of a hang.
//
// Unlike the suite headers, this one only declares inline functions and types:
// include it anywhere. It is shaped for the suites; use it in your own tests
// if it fits, but expect it to follow what the suites need.
//
// Thread-safety: `counter` and `gated_sink::state` are thread-safe; the rest
// are pure functions.
#ifndef FUNNEL_TESTING_CONFORMANCE_UTIL_H_
#define FUNNEL_TESTING_CONFORMANCE_UTIL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/bytes.h"
#include "funnel/procwire/frame.h"
#include "gtest/gtest.h"  // EXPECT_TRUE in make_frame

namespace funnel::testing::conformance {

// Long enough never to expire on a healthy run, even under TSan on a loaded
// machine; short enough that a lost wake-up fails instead of hanging.
inline constexpr absl::Duration kPatience = absl::Seconds(20);

// A valid frame (method 1, flags 0x03) with `request_id` and `payload`.
inline outbound_frame make_frame(std::uint32_t request_id, bytes payload = bytes()) {
  absl::StatusOr<outbound_frame> f =
      outbound_frame::make(1, frame_flags::kResponseToParent, request_id, std::move(payload));
  EXPECT_TRUE(f.ok()) << f.status();
  return *std::move(f);
}

// A payload that shares `owner`'s string, so a test can watch
// owner.use_count() to see who still holds it.
inline bytes shared_payload(const std::shared_ptr<const std::string>& owner) {
  return bytes::share(owner, std::as_bytes(std::span(owner->data(), owner->size())));
}

// Request ids that say who sent a frame and in which order: the producer in
// the top 8 bits, its sequence number in the low 24.
inline std::uint32_t tagged_id(std::uint32_t producer, std::uint32_t seq) {
  return (producer << 24) | seq;
}
inline std::uint32_t producer_of(std::uint32_t id) { return id >> 24; }
inline std::uint32_t seq_of(std::uint32_t id) { return id & 0xFF'FFFFu; }

// Runs `body(p)` for p in [0, n) on n threads that start together (each
// waits until all exist, so they contend from the first frame), and joins
// them. The caller's other threads (a sampler, a closer) run meanwhile.
template <class Body>
void run_producers(std::uint32_t n, Body body) {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (std::uint32_t p = 0; p < n; ++p) {
    threads.emplace_back([&go, &body, p] {
      // Acquire: pairs with the release store that starts everyone.
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      body(p);
    });
  }
  go.store(true, std::memory_order_release);
  for (std::thread& t : threads) t.join();
}

// Reads `read()` over and over on a thread of its own (e.g. a writer's
// pending_count()) until stop(), which returns the largest value seen.
template <class Read>
class max_sampler {
 public:
  explicit max_sampler(Read read)
      : read_(std::move(read)), thread_([this] {
          // Relaxed: a stop request; the join in stop() publishes max_.
          while (!stop_.load(std::memory_order_relaxed)) {
            const std::size_t v = read_();
            if (v > max_) max_ = v;
            std::this_thread::yield();
          }
        }) {}
  ~max_sampler() { stop(); }
  std::size_t stop() {
    stop_.store(true, std::memory_order_relaxed);
    if (thread_.joinable()) thread_.join();
    return max_;
  }

 private:
  Read read_;
  std::atomic<bool> stop_{false};
  std::size_t max_ = 0;
  std::thread thread_;  // last: starts once the members above exist
};

// A counter threads bump and others block on (no polling, no sleeps).
// Thread-safe.
class counter {
 public:
  void bump() {
    absl::MutexLock lock(&mu_);
    ++n_;
  }
  // True once the count reaches `n`; false if `deadline` passes first.
  bool await_at_least(int n, absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return n_ >= n; };
    return mu_.AwaitWithDeadline(absl::Condition(&enough), deadline);
  }
  int value() {
    absl::MutexLock lock(&mu_);
    return n_;
  }

 private:
  absl::Mutex mu_;
  int n_ ABSL_GUARDED_BY(mu_) = 0;
};

// A sink whose write() announces itself and then blocks until the test opens
// the gate: lets a test hold the writer thread inside a write, so frames stay
// pending deterministically. Records the bytes, and the size of each call
// (one call per batch, since it takes everything offered). Keep `s`: the sink
// itself is moved into the writer.
struct gated_sink {
  struct state {
    counter arrivals;
    absl::Mutex mu;
    bool open ABSL_GUARDED_BY(mu) = false;
    std::string data ABSL_GUARDED_BY(mu);
    std::vector<std::size_t> write_sizes ABSL_GUARDED_BY(mu);

    void open_gate() {
      absl::MutexLock lock(&mu);
      open = true;
    }
  };
  std::shared_ptr<state> s = std::make_shared<state>();

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    s->arrivals.bump();
    absl::MutexLock lock(&s->mu);
    s->mu.Await(absl::Condition(&s->open));
    for (const const_buffer& b : buffers) {
      s->data.append(reinterpret_cast<const char*>(b.data), b.size);
    }
    s->write_sizes.push_back(total_size(buffers));
    return total_size(buffers);
  }
};

}  // namespace funnel::testing::conformance

#endif  // FUNNEL_TESTING_CONFORMANCE_UTIL_H_
