// tests/test_util.h: helpers shared by funnel's own tests (not part of the
// public testing kit).
#ifndef FUNNEL_TESTS_TEST_UTIL_H_
#define FUNNEL_TESTS_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/procwire/frame.h"
#include "funnel/procwire/frame_decoder.h"
#include "gtest/gtest.h"

namespace funnel::testing_internal {

// True under ThreadSanitizer, which slows atomics down by an order of
// magnitude: stress tests scale their work down with it.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kTsan = true;
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
inline constexpr bool kTsan = true;
#else
inline constexpr bool kTsan = false;
#endif
#else
inline constexpr bool kTsan = false;
#endif

// Fails and aborts the test binary if it is still alive after `limit`: a
// test that would hang (a close() that never returns) fails instead, with
// `what` in the output. Destroy it when the guarded part is over.
class watchdog {
 public:
  explicit watchdog(std::string what, absl::Duration limit = absl::Seconds(30))
      : what_(std::move(what)), thread_([this, limit] {
          if (done_.WaitForNotificationWithTimeout(limit)) return;
          ADD_FAILURE() << "watchdog: " << what_ << " did not finish within "
                        << absl::FormatDuration(limit);
          std::fprintf(stderr, "watchdog: %s did not finish within %s; aborting\n", what_.c_str(),
                       absl::FormatDuration(limit).c_str());
          std::abort();
        }) {}
  ~watchdog() {
    done_.Notify();
    thread_.join();
  }
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

 private:
  std::string what_;
  absl::Notification done_;
  std::thread thread_;  // last: starts once the fields above exist
};

// A valid frame with method 1, flags 0x03, the given request id and payload.
inline outbound_frame make_frame(std::uint32_t request_id, std::string_view payload) {
  absl::StatusOr<outbound_frame> f = outbound_frame::make(1, frame_flags::kResponseToParent,
                                                          request_id, bytes::copy_from(payload));
  EXPECT_TRUE(f.ok()) << f.status();
  return *std::move(f);
}

// The exact wire bytes of make_frame(request_id, payload).
inline std::string wire_bytes(std::uint32_t request_id, std::string_view payload) {
  const encoded_header h = encode_header(
      {1, frame_flags::kResponseToParent, request_id, static_cast<std::uint32_t>(payload.size())});
  std::string out(reinterpret_cast<const char*>(h.data()), h.size());
  out.append(payload);
  return out;
}

// Decodes a whole stream; fails the test on a bad header or trailing bytes.
inline std::vector<decoded_frame> decode_all(std::string_view stream) {
  frame_decoder d;
  d.push(std::as_bytes(std::span(stream)));
  std::vector<decoded_frame> out;
  for (;;) {
    absl::StatusOr<std::optional<decoded_frame>> f = d.next();
    EXPECT_TRUE(f.ok()) << f.status();
    if (!f.ok() || !f->has_value()) break;
    out.push_back(**std::move(f));
  }
  EXPECT_EQ(d.buffered(), 0u) << "trailing bytes that are not a whole frame";
  return out;
}

// A gate a test opens to let a blocked sink proceed. Thread-safe.
class gate {
 public:
  void open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  void wait_open() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&open_));
  }
  // Blocks until `n` callers are waiting in wait_open() or have passed it.
  void await_arrivals(int n) {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return arrivals_ >= n; };
    mu_.Await(absl::Condition(&enough));
  }
  void arrive() {
    absl::MutexLock lock(&mu_);
    ++arrivals_;
  }

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  int arrivals_ ABSL_GUARDED_BY(mu_) = 0;
};

// A sink that records every write and blocks in write() until its gate is
// open. Lets a test hold the writer thread inside a write, deterministically.
struct gated_sink {
  struct state {
    gate g;
    absl::Mutex mu;
    std::string data ABSL_GUARDED_BY(mu);
    std::vector<std::size_t> batch_ranges ABSL_GUARDED_BY(mu);  // ranges per write call
  };
  std::shared_ptr<state> s = std::make_shared<state>();

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    s->g.arrive();
    s->g.wait_open();
    absl::MutexLock lock(&s->mu);
    s->batch_ranges.push_back(buffers.size());
    for (const const_buffer& b : buffers)
      s->data.append(reinterpret_cast<const char*>(b.data), b.size);
    return total_size(buffers);
  }
};

}  // namespace funnel::testing_internal

#endif  // FUNNEL_TESTS_TEST_UTIL_H_
