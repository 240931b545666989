// tests/express_lane_test.cc: the express lane (issue 11): urgent frames
// overtake queued bulk frames at a batch boundary, never split a batch, keep
// their own order, have their own exact bound, wake an idle writer, are
// drained by close() and counted lost when the sink fails; send() routes
// procwire ABORT and ack frames there with route_urgent. The last test runs
// bulk and express producers through a real socket pair.
//
// No timing assertions: the writer is held inside a write by a step sink
// (each write call waits until the test allows one more), so every ordering
// below is deterministic.
#include <sys/socket.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/options.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/queue/mutex_queue.h"
#include "funnel/policies/sink/posix_writev_sink.h"
#include "funnel/procwire/frame.h"
#include "gtest/gtest.h"
#include "tests/posix_test_util.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using testing_internal::decode_all;
using testing_internal::make_frame;

// A sink whose write calls each wait for a permit from the test, take at most
// `max_per_call` bytes, and are recorded (the bytes of each call); write call
// number `fail_at` (1-based, 0: never) fails.
struct step_sink {
  struct state {
    absl::Mutex mu;
    std::size_t permits ABSL_GUARDED_BY(mu) = 0;
    std::size_t waiting ABSL_GUARDED_BY(mu) = 0;  // calls blocked for a permit
    std::vector<std::string> calls ABSL_GUARDED_BY(mu);
    std::size_t max_per_call = SIZE_MAX;
    std::size_t fail_at = 0;
  };
  std::shared_ptr<state> s = std::make_shared<state>();

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    absl::MutexLock lock(&s->mu);
    ++s->waiting;
    s->mu.Await(absl::Condition(
        +[](std::size_t* p) { return *p > 0; }, &s->permits));
    --s->waiting;
    --s->permits;
    if (s->fail_at != 0 && s->calls.size() + 1 == s->fail_at) {
      s->calls.emplace_back();
      return absl::UnavailableError("step_sink: injected failure");
    }
    std::string taken;
    for (const const_buffer& b : buffers) {
      const std::size_t n = std::min(b.size, s->max_per_call - taken.size());
      taken.append(reinterpret_cast<const char*>(b.data), n);
      if (taken.size() == s->max_per_call) break;
    }
    s->calls.push_back(taken);
    return taken.size();
  }

  // Test side.
  void allow(std::size_t n) {
    absl::MutexLock lock(&s->mu);
    s->permits += n;
  }
  void await_blocked() {
    absl::MutexLock lock(&s->mu);
    s->mu.Await(absl::Condition(
        +[](std::size_t* p) { return *p > 0; }, &s->waiting));
  }
  std::vector<std::string> calls() {
    absl::MutexLock lock(&s->mu);
    return s->calls;
  }
  std::string stream() {
    std::string all;
    for (const std::string& c : calls()) all += c;
    return all;
  }
};

using writer =
    basic_writer<mpsc_ring<outbound_frame>, step_sink, condvar_backpressure, count_batcher>;

// An ABORT (method 0xFFFF) with `request_id`.
outbound_frame abort_frame(std::uint32_t request_id) {
  return *outbound_frame::make(kAbortMethodId, 0, request_id, bytes());
}

std::vector<std::uint32_t> ids_of(const std::string& stream) {
  std::vector<std::uint32_t> ids;
  for (const decoded_frame& f : decode_all(stream)) ids.push_back(f.header.request_id);
  return ids;
}

std::vector<std::uint32_t> ids_of_call(const std::string& call) { return ids_of(call); }

// The writer is held in the write of a plug frame (id 100); bulk frames 0..9
// are queued behind it, then two express frames (200, 201).
class held_writer : public ::testing::Test {
 protected:
  void start(writer_options o = {}, std::size_t batch = 4) {
    w_ = std::make_unique<writer>(sink_, o, condvar_backpressure{}, count_batcher(batch));
    h_ = std::make_unique<writer::handle_type>(w_->handle());
    ASSERT_TRUE(h_->send(make_frame(100, "plug")).ok());
    sink_.await_blocked();  // the writer is inside the plug's write
  }
  void send_bulk(std::uint32_t from, std::uint32_t to) {
    for (std::uint32_t i = from; i < to; ++i) {
      ASSERT_TRUE(h_->send(make_frame(i, "bulk")).ok());
    }
  }

  step_sink sink_;
  std::unique_ptr<writer> w_;
  std::unique_ptr<writer::handle_type> h_;
};

TEST_F(held_writer, ExpressFramesOvertakeQueuedBulkFramesAtTheNextBatchBoundary) {
  start();
  send_bulk(0, 10);
  ASSERT_TRUE(h_->send_express(make_frame(200, "urgent")).ok());
  ASSERT_TRUE(h_->try_send_express(make_frame(201, "urgent too")).ok());
  sink_.allow(1000);
  ASSERT_TRUE(w_->close().ok());

  // One write call per batch (the sink takes everything offered).
  const std::vector<std::string> calls = sink_.calls();
  ASSERT_EQ(calls.size(), 5u);
  EXPECT_EQ(ids_of_call(calls[0]), (std::vector<std::uint32_t>{100}));
  EXPECT_EQ(ids_of_call(calls[1]), (std::vector<std::uint32_t>{200, 201}));  // a batch of its own
  EXPECT_EQ(ids_of_call(calls[2]), (std::vector<std::uint32_t>{0, 1, 2, 3}));
  EXPECT_EQ(ids_of_call(calls[3]), (std::vector<std::uint32_t>{4, 5, 6, 7}));
  EXPECT_EQ(ids_of_call(calls[4]), (std::vector<std::uint32_t>{8, 9}));
  const writer_stats st = w_->stats();
  EXPECT_EQ(st.frames_accepted, 13u);
  EXPECT_EQ(st.frames_written, 13u);
  EXPECT_EQ(st.express_frames, 2u);
  EXPECT_EQ(st.frames_lost, 0u);
}

TEST_F(held_writer, AnExpressFrameNeverSplitsABatchBeingWritten) {
  sink_.s->max_per_call = 7;  // the plug (11 + 4 bytes) takes three write calls
  start();
  ASSERT_TRUE(h_->send_express(abort_frame(300)).ok());
  send_bulk(0, 3);
  sink_.allow(1000);
  ASSERT_TRUE(w_->close().ok());
  // The plug is whole before the ABORT, which precedes the queued bulk frames.
  EXPECT_EQ(ids_of(sink_.stream()), (std::vector<std::uint32_t>{100, 300, 0, 1, 2}));
  EXPECT_GT(w_->stats().partial_writes, 0u);
}

TEST_F(held_writer, ExpressFramesKeepTheirOrder) {
  start();
  for (std::uint32_t i = 200; i < 210; ++i) {
    ASSERT_TRUE(h_->send_express(make_frame(i, "e")).ok());
  }
  sink_.allow(1000);
  ASSERT_TRUE(w_->close().ok());
  EXPECT_EQ(ids_of(sink_.stream()),
            (std::vector<std::uint32_t>{100, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209}));
}

TEST_F(held_writer, TheLaneHasItsOwnExactBound) {
  writer_options o;
  o.express_capacity = 2;
  o.max_pending_frames = 64;
  o.backpressure_timeout = absl::Milliseconds(20);
  start(o);
  ASSERT_TRUE(h_->try_send_express(make_frame(200, "a")).ok());
  ASSERT_TRUE(h_->try_send_express(make_frame(201, "b")).ok());
  const absl::Status full = h_->try_send_express(make_frame(202, "c"));
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted) << full;
  EXPECT_NE(full.message().find("express_capacity 2"), std::string::npos) << full;
  // The bulk budget is separate: bulk frames are still admitted.
  ASSERT_TRUE(h_->try_send(make_frame(0, "bulk")).ok());
  // A blocking send times out naming the lane while the writer is held.
  const absl::Status timed_out = h_->send_express(make_frame(202, "c"));
  EXPECT_EQ(timed_out.code(), absl::StatusCode::kDeadlineExceeded) << timed_out;
  EXPECT_NE(timed_out.message().find("express lane"), std::string::npos) << timed_out;
  EXPECT_EQ(w_->pending_count(), 4u);  // plug + bulk frame + two express frames
  sink_.allow(1000);
  ASSERT_TRUE(w_->close().ok());
  EXPECT_EQ(ids_of(sink_.stream()), (std::vector<std::uint32_t>{100, 200, 201, 0}));
}

TEST_F(held_writer, ABlockingSendExpressWakesWhenTheWriterDrainsTheLane) {
  writer_options o;
  o.express_capacity = 1;
  o.backpressure_timeout = absl::InfiniteDuration();
  start(o);
  ASSERT_TRUE(h_->send_express(make_frame(200, "a")).ok());
  absl::Status second;
  std::thread t([&] { second = h_->send_express(make_frame(201, "b")); });
  ASSERT_TRUE(posix_test::wait_until([&] { return w_->stats().backpressure_waits >= 1; }));
  sink_.allow(1000);  // the writer writes 200, frees the slot, 201 gets in
  t.join();
  EXPECT_TRUE(second.ok()) << second;
  ASSERT_TRUE(w_->close().ok());
  EXPECT_EQ(ids_of(sink_.stream()), (std::vector<std::uint32_t>{100, 200, 201}));
}

TEST_F(held_writer, RouteUrgentSendsAbortAndAckFramesThroughTheLane) {
  writer_options o;
  o.route_urgent = true;
  start(o);
  send_bulk(0, 3);
  ASSERT_TRUE(h_->send(abort_frame(300)).ok());
  ASSERT_TRUE(h_->send(*outbound_frame::make(7, frame_flags::kAckToParent, 301, bytes())).ok());
  send_bulk(3, 4);
  sink_.allow(1000);
  ASSERT_TRUE(w_->close().ok());
  EXPECT_EQ(ids_of(sink_.stream()), (std::vector<std::uint32_t>{100, 300, 301, 0, 1, 2, 3}));
  EXPECT_EQ(w_->stats().express_frames, 2u);
}

TEST_F(held_writer, WithoutRouteUrgentSendKeepsOneFifoOrder) {
  start();
  send_bulk(0, 3);
  ASSERT_TRUE(h_->send(abort_frame(300)).ok());
  sink_.allow(1000);
  ASSERT_TRUE(w_->close().ok());
  EXPECT_EQ(ids_of(sink_.stream()), (std::vector<std::uint32_t>{100, 0, 1, 2, 300}));
  EXPECT_EQ(w_->stats().express_frames, 0u);
}

TEST_F(held_writer, CloseDrainsExpressFrames) {
  start();
  send_bulk(0, 2);
  ASSERT_TRUE(h_->send_express(make_frame(200, "a")).ok());
  absl::Status closed;
  std::thread t([&] { closed = w_->close(); });  // begins while the writer is held
  sink_.allow(1000);
  t.join();
  EXPECT_TRUE(closed.ok()) << closed;
  EXPECT_EQ(ids_of(sink_.stream()), (std::vector<std::uint32_t>{100, 200, 0, 1}));
  const writer_stats st = w_->stats();
  EXPECT_EQ(st.frames_accepted, st.frames_written);
  EXPECT_EQ(st.express_frames, 1u);
}

TEST_F(held_writer, ASinkFailureCountsUnwrittenExpressFramesLost) {
  sink_.s->fail_at = 2;  // the express batch's write fails
  start();
  send_bulk(0, 3);
  ASSERT_TRUE(h_->send_express(make_frame(200, "a")).ok());
  ASSERT_TRUE(h_->send_express(make_frame(201, "b")).ok());
  sink_.allow(1000);
  const absl::Status s = w_->close();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  const writer_stats st = w_->stats();
  EXPECT_EQ(st.frames_accepted, 6u);
  EXPECT_EQ(st.frames_written, 1u);  // the plug
  EXPECT_EQ(st.frames_lost, 5u);
  EXPECT_EQ(st.frames_accepted, st.frames_written + st.frames_lost);
  EXPECT_EQ(st.express_frames, 0u);
}

TEST(ExpressLane, AnIdleWriterWakesForAnExpressFrame) {
  step_sink sink;
  sink.allow(1000);
  writer w(sink, writer_options{}, condvar_backpressure{}, count_batcher(4));
  writer::handle_type h = w.handle();
  ASSERT_TRUE(h.send(make_frame(1, "bulk")).ok());
  ASSERT_TRUE(w.flush().ok());  // the writer is idle in pop_wait now
  ASSERT_TRUE(h.send_express(abort_frame(2)).ok());
  // Only the express push can wake it: nothing else is sent.
  ASSERT_TRUE(posix_test::wait_until([&] { return w.stats().frames_written == 2; }));
  EXPECT_TRUE(w.flush(absl::Now() + absl::Seconds(30)).ok());
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(ids_of(sink.stream()), (std::vector<std::uint32_t>{1, 2}));
}

TEST(ExpressLane, ADisabledLaneRefusesWithFailedPrecondition) {
  step_sink sink;
  sink.allow(1000);
  writer_options o;
  o.express_capacity = 0;
  writer w(sink, o, condvar_backpressure{}, count_batcher(4));
  const absl::Status s = w.handle().send_express(abort_frame(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("express_capacity"), std::string::npos) << s;
  EXPECT_EQ(w.handle().send_express(outbound_frame()).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_accepted, 0u);
}

TEST(ExpressLane, RouteUrgentWithoutALaneIsAnInvalidOption) {
  step_sink sink;
  writer_options o;
  o.express_capacity = 0;
  o.route_urgent = true;
  writer w(sink, o, condvar_backpressure{}, count_batcher(4));
  EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << w.status();
  EXPECT_NE(w.status().message().find("route_urgent"), std::string::npos) << w.status();
}

TEST(ExpressLane, ProcwireFramesAreUrgentForAbortAndAck) {
  EXPECT_TRUE(abort_frame(1).urgent());
  EXPECT_TRUE(outbound_frame::make(5, frame_flags::kAck, 1, bytes())->urgent());
  EXPECT_TRUE(outbound_frame::make(5, frame_flags::kAckToParent, 1, bytes())->urgent());
  EXPECT_FALSE(make_frame(1, "x").urgent());
  EXPECT_FALSE(outbound_frame::make(5, frame_flags::kStreamEndToParent, 1, bytes())->urgent());
  EXPECT_FALSE(outbound_frame().urgent());
}

// Bulk and express producers at once through a real socket pair: every frame
// arrives exactly once, and each producer's frames keep their order within
// their lane. Run under TSan for the lane's synchronisation.
TEST(ExpressLane, BulkAndExpressProducersThroughASocketPair) {
  using socket_writer = basic_writer<mutex_queue<outbound_frame>, posix_writev_sink,
                                     condvar_backpressure, count_batcher>;
  constexpr int kBulkProducers = 3, kExpressProducers = 2;
  const std::uint32_t per_producer = testing_internal::kTsan ? 300 : 3000;
  posix_test::fd_pair sp = posix_test::make_socketpair();
  posix_test::reader_thread reader(sp.read_end.get(), sp.write_end, 4096);
  writer_options o;
  o.max_pending_frames = 64;
  o.express_capacity = 4;
  o.backpressure_timeout = absl::InfiniteDuration();
  socket_writer w(posix_writev_sink(sp.write_end.get()), o, condvar_backpressure{},
                  count_batcher(16));
  std::vector<std::thread> threads;
  for (int p = 0; p < kBulkProducers + kExpressProducers; ++p) {
    threads.emplace_back([&, p] {
      socket_writer::handle_type h = w.handle();
      const bool express = p >= kBulkProducers;
      for (std::uint32_t i = 0; i < per_producer; ++i) {
        absl::StatusOr<outbound_frame> f =
            outbound_frame::make(static_cast<std::uint16_t>(p + 1), 0, i,
                                 bytes::copy_from(std::string(1 + i % 200, 'x')));
        const absl::Status s = express ? h.send_express(*std::move(f)) : h.send(*std::move(f));
        ASSERT_TRUE(s.ok()) << s;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(w.close().ok());
  const std::string stream = reader.close_and_join();
  std::vector<std::uint32_t> next(kBulkProducers + kExpressProducers, 0);
  for (const decoded_frame& f : decode_all(stream)) {
    const int p = f.header.method_id - 1;
    ASSERT_GE(p, 0);
    ASSERT_LT(p, kBulkProducers + kExpressProducers);
    ASSERT_EQ(f.header.request_id, next[p]) << "producer " << p;
    ASSERT_EQ(f.payload.size(), 1 + next[p] % 200);
    ++next[p];
  }
  for (std::uint32_t n : next) EXPECT_EQ(n, per_producer);
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, st.frames_written);
  EXPECT_EQ(st.express_frames, std::uint64_t{kExpressProducers} * per_producer);
}

}  // namespace
}  // namespace funnel
