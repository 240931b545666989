// The combination matrix: every queue x backpressure x batcher, each with a
// memory sink (FUNNEL_MATRIX_SINK_MEMORY) or a real AF_UNIX socket
// (FUNNEL_MATRIX_SINK_SOCKET), instantiated with Hana's cartesian_product
// into one typed test suite that checks the same behaviour on each:
// delivery, per-producer order, the exact bound, timeout, close and failure.
// The drop policies may drop frames under the bound: for them the suite
// checks that what is written is an in-order subsequence per producer and
// that accepted == written + lost + dropped; the others stay strict.
#if !defined(_WIN32)  // the socket variant only; the memory variant builds for Windows
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "funnel/funnel.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/backpressure/fail_fast_backpressure.h"
#include "funnel/policies/backpressure/spin_backpressure.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/policies/batcher/coalescing_batcher.h"
#include "funnel/policies/batcher/linger_batcher.h"
#include "funnel/policies/queue/boost_lockfree_queue.h"
#include "funnel/policies/queue/mutex_queue.h"
#include "gtest/gtest.h"
#include "tests/policy_matrix.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing_internal::make_frame;

using testing_internal::send_retrying;

// Wraps the sink under test so the suite can stall the writer inside a write
// and inject a failure, whatever the sink.
struct control {
  absl::Mutex mu;
  bool stalled ABSL_GUARDED_BY(mu) = false;
  bool fail ABSL_GUARDED_BY(mu) = false;
  int writers_inside ABSL_GUARDED_BY(mu) = 0;
};
template <class Inner>
struct controlled_sink {
  Inner inner;
  std::shared_ptr<control> ctl;
  absl::StatusOr<std::size_t> write(std::span<const const_buffer> b) {
    {
      absl::MutexLock lock(&ctl->mu);
      ++ctl->writers_inside;
      auto released = [this]() ABSL_SHARED_LOCKS_REQUIRED(ctl->mu) { return !ctl->stalled; };
      ctl->mu.Await(absl::Condition(&released));
      --ctl->writers_inside;
      if (ctl->fail) return absl::UnavailableError("injected: matrix sink failure");
    }
    return inner.write(b);
  }
};

// How the suite makes a sink and reads back what reached it.
#if defined(FUNNEL_MATRIX_SINK_SOCKET)
struct sink_under_test {
  using type = posix_writev_sink;
  int fds[2] = {-1, -1};
  std::thread reader;
  absl::Mutex mu;
  std::string received ABSL_GUARDED_BY(mu);

  type make() {
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    reader = std::thread([this] {
      char buf[1 << 16];
      for (;;) {
        const ssize_t n = ::read(fds[1], buf, sizeof buf);
        if (n <= 0) break;
        absl::MutexLock lock(&mu);
        received.append(buf, static_cast<std::size_t>(n));
      }
    });
    return posix_writev_sink(fds[0]);
  }
  // Called after the writer is closed: EOF to the reader, collect.
  std::string finish() {
    ::shutdown(fds[0], SHUT_WR);
    reader.join();
    ::close(fds[0]);
    ::close(fds[1]);
    absl::MutexLock lock(&mu);
    return received;
  }
};
#else
struct sink_under_test {
  using type = memory_sink;
  std::shared_ptr<const memory_sink_buffer> buffer;
  type make() {
    memory_sink s;
    buffer = s.buffer();
    return s;
  }
  std::string finish() { return buffer->contents(); }
};
#endif

// Every combination, as a policy_set with the controlled sink.
using all_combinations =
    testing_internal::policy_matrix_types<outbound_frame, controlled_sink<sink_under_test::type>>;

template <class Preset>
class Matrix : public ::testing::Test {
 protected:
  using writer_type = writer_for<Preset>;
  static constexpr bool kDrops = testing_internal::kDrops<typename writer_type::backpressure_type>;

  std::unique_ptr<writer_type> start(writer_options o = {}) {
    ctl_ = std::make_shared<control>();
    return std::make_unique<writer_type>(
        controlled_sink<sink_under_test::type>{harness_.make(), ctl_}, o);
  }
  void set_stalled(bool on) {
    absl::MutexLock lock(&ctl_->mu);
    ctl_->stalled = on;
  }
  void await_writer_inside() {
    absl::MutexLock lock(&ctl_->mu);
    auto inside = [this]()
                      ABSL_SHARED_LOCKS_REQUIRED(ctl_->mu) { return ctl_->writers_inside > 0; };
    ctl_->mu.Await(absl::Condition(&inside));
  }
  void fail_writes() {
    absl::MutexLock lock(&ctl_->mu);
    ctl_->fail = true;
    ctl_->stalled = false;
  }
  std::vector<decoded_frame> received() { return testing_internal::decode_all(harness_.finish()); }

  sink_under_test harness_;
  std::shared_ptr<control> ctl_;
};
TYPED_TEST_SUITE(Matrix, all_combinations);

TYPED_TEST(Matrix, DeliversEveryFrameOnceInPerProducerOrderWithinTheBound) {
  writer_options o;
  o.max_pending_frames = 8;
  o.queue_capacity = 8;
  auto w = this->start(o);
  constexpr int kProducers = 3, kFrames = 300;
  std::atomic<bool> go{false}, done{false};
  std::atomic<std::size_t> max_seen{0};
  std::thread sampler([&] {
    while (!done.load(std::memory_order_acquire)) {
      const std::size_t p = w->pending_count();
      if (p > max_seen.load(std::memory_order_relaxed))
        max_seen.store(p, std::memory_order_relaxed);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> producers;
  for (int t = 0; t < kProducers; ++t) {
    producers.emplace_back([&, t] {
      auto h = w->handle();
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (int i = 0; i < kFrames; ++i) {
        const std::string payload(static_cast<std::size_t>((i * 37 + t) % 700), char('a' + t));
        ASSERT_TRUE(send_retrying(h, make_frame((t << 24) | i, payload)).ok());
      }
    });
  }
  go.store(true, std::memory_order_release);
  for (std::thread& p : producers) p.join();
  ASSERT_TRUE(w->close().ok());
  done.store(true, std::memory_order_release);
  sampler.join();
  // A byte ring's pending_count() is accepted - processed: a drop being
  // counted (accepted, then dropped) adds one for an instant per producer.
  EXPECT_LE(max_seen.load(), TestFixture::kDrops ? 8u + kProducers : 8u);

  std::vector<int> next(kProducers, 0);
  const std::vector<decoded_frame> got = this->received();
  const writer_stats st = w->stats();
  if constexpr (!TestFixture::kDrops) {
    ASSERT_EQ(got.size(), static_cast<std::size_t>(kProducers * kFrames));
  }
  for (const decoded_frame& f : got) {
    const int t = static_cast<int>(f.header.request_id >> 24);
    const int i = static_cast<int>(f.header.request_id & 0xFFFFFF);
    ASSERT_LT(t, kProducers);
    if constexpr (TestFixture::kDrops) {
      ASSERT_GE(i, next[t]) << "producer " << t << " out of order";  // a subsequence
      next[t] = i + 1;
    } else {
      ASSERT_EQ(i, next[t]++) << "producer " << t << " out of order";
    }
    ASSERT_EQ(f.payload.size(), static_cast<std::size_t>((i * 37 + t) % 700));
  }
  EXPECT_EQ(st.frames_accepted, static_cast<std::uint64_t>(kProducers * kFrames));
  EXPECT_EQ(st.frames_written, got.size());
  EXPECT_EQ(st.frames_written + st.frames_dropped, st.frames_accepted);
  EXPECT_EQ(st.frames_lost, 0u);
  if constexpr (!TestFixture::kDrops) {
    EXPECT_EQ(st.frames_dropped, 0u);
  }
}

TYPED_TEST(Matrix, BoundIsExactAndSendTimesOut) {
  writer_options o;
  o.max_pending_frames = 5;
  o.backpressure_timeout = absl::Milliseconds(20);
  auto w = this->start(o);
  auto h = w->handle();
  this->set_stalled(true);
  int accepted = 0;
  if constexpr (TestFixture::kDrops) {
    // A full bound drops a frame instead of refusing one: fill it exactly.
    for (; accepted < 5; ++accepted) ASSERT_TRUE(h.try_send(make_frame(accepted, "x")).ok());
  } else {
    while (h.try_send(make_frame(accepted, "x")).ok()) ++accepted;
  }
  EXPECT_EQ(accepted, 5);
  EXPECT_TRUE(h.is_backpressure_active());
  absl::Status s = h.send(make_frame(99, "late"));
  if constexpr (TestFixture::kDrops) {
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(w->stats().frames_dropped, 1u);
  } else {
    EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  }
  this->set_stalled(false);
  ASSERT_TRUE(w->flush().ok());
  EXPECT_EQ(w->pending_count(), 0u);
  ASSERT_TRUE(w->close().ok());
  EXPECT_EQ(this->received().size(), 5u);
  const writer_stats st = w->stats();
  EXPECT_EQ(st.frames_accepted, st.frames_written + st.frames_dropped);
}

TYPED_TEST(Matrix, CloseDrainsAndThenRejects) {
  auto w = this->start();
  auto h = w->handle();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(send_retrying(h, make_frame(i, "drain me")).ok());
  ASSERT_TRUE(w->close().ok());
  EXPECT_EQ(h.send(make_frame(1, "after")).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(this->received().size(), 100u);  // 100 frames never fill the default bound
  EXPECT_EQ(w->stats().frames_dropped, 0u);
}

TYPED_TEST(Matrix, FailureIsReportedAndEveryFrameAccountedFor) {
  auto w = this->start();
  auto h = w->handle();
  this->set_stalled(true);
  ASSERT_TRUE(h.send(make_frame(0, "first")).ok());
  this->await_writer_inside();
  for (int i = 1; i < 20; ++i) ASSERT_TRUE(h.send(make_frame(i, "queued")).ok());
  this->fail_writes();
  // Probe until the writer has failed (a fail-fast policy may reject some
  // probes for backpressure before that).
  std::uint64_t ok = 20;  // counted here, independently of the writer
  absl::Status s;
  do {
    s = h.send(make_frame(100, "probe"));
    if (s.ok()) ++ok;
  } while (s.ok() || s.code() == absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(s.message().find("matrix sink failure"), std::string::npos) << s;
  absl::Status final_status = w->close();
  EXPECT_EQ(final_status.code(), absl::StatusCode::kUnavailable) << final_status;
  const writer_stats st = w->stats();
  EXPECT_EQ(st.frames_written, 0u);
  EXPECT_EQ(st.frames_accepted, ok);
  EXPECT_EQ(st.frames_lost + st.frames_dropped, ok);  // drops: at most the probes
  if constexpr (!TestFixture::kDrops) {
    EXPECT_EQ(st.frames_dropped, 0u);
  }
  EXPECT_TRUE(this->received().empty());
}

}  // namespace
}  // namespace funnel
