// tests/byte_ring_test.cc: funnel::byte_ring, alone and under basic_writer:
// exact bounds, wrap-around at every offset, claims (commit, abort, drop,
// timeout), frames sent by reference, and many producers.
#include "funnel/policies/queue/byte_ring.h"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/backpressure/fail_fast_backpressure.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/procwire/frame.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using ::funnel::testing_internal::decode_all;
using ::funnel::testing_internal::kTsan;
using ::funnel::testing_internal::make_frame;
using ::funnel::testing_internal::wire_bytes;
using ::testing::HasSubstr;

using ring = byte_ring<outbound_frame>;
using ring_writer = basic_writer<ring, memory_sink, condvar_backpressure, byte_batcher>;

writer_options ring_options(std::size_t bytes, std::size_t records) {
  writer_options o;
  o.max_pending_bytes = bytes;
  o.max_pending_frames = records;
  return o;
}

// Copies `wire` into a claim and commits it.
template <class Handle>
absl::Status claim_and_commit(Handle& h, const std::string& wire) {
  auto c = h.claim(wire.size());
  if (!c.ok()) return c.status();
  std::memcpy(c->data().data(), wire.data(), wire.size());
  return c->commit();
}

TEST(ByteRing, BothBoundsAreExact) {
  ring r(/*max_bytes=*/100, /*max_records=*/3);
  ring::reservation a, b, c, d;
  ASSERT_TRUE(r.try_reserve(40, false, a));
  ASSERT_TRUE(r.try_reserve(60, false, b));
  EXPECT_FALSE(r.try_reserve(1, false, c)) << "100 of 100 bytes are taken";
  r.commit(a, detail::ring::kPadding);
  r.commit(b, detail::ring::kPadding);
  r.release(2, 100);
  ASSERT_TRUE(r.try_reserve(1, false, c));
  ASSERT_TRUE(r.try_reserve(1, false, d));
  ring::reservation e, f;
  ASSERT_TRUE(r.try_reserve(1, false, e));
  EXPECT_FALSE(r.try_reserve(1, false, f)) << "3 of 3 records are taken";
}

TEST(ByteRing, AContiguousReservationPadsToTheWrap) {
  ring r(/*max_bytes=*/64, /*max_records=*/8);
  ring::reservation a, b;
  ASSERT_TRUE(r.try_reserve(50, false, a));
  r.commit(a, detail::ring::kPadding);
  r.release(1, 50);
  ASSERT_TRUE(r.try_reserve(20, /*contiguous=*/true, b));
  EXPECT_TRUE(b.wraps);
  EXPECT_EQ(b.span, 14u + 20u) << "14 bytes of padding up to the end, then 20";
  EXPECT_EQ(r.data(b), r.content(b.at, true));
}

TEST(ByteRingWriter, WritesEveryFrameInOrderAcrossManyWraps) {
  memory_sink sink;
  auto buf = sink.buffer();
  ring_writer w(std::move(sink), ring_options(256, 16));
  auto h = w.handle();
  std::string expected;
  for (std::uint32_t i = 0; i < 3000; ++i) {
    const std::string payload(i % 97, static_cast<char>('a' + i % 26));
    ASSERT_TRUE(h.send(make_frame(i, payload)).ok());
    expected += wire_bytes(i, payload);
  }
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(buf->contents(), expected);
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, 3000u);
  EXPECT_EQ(st.frames_written, 3000u);
  EXPECT_EQ(st.bytes_written, expected.size());
}

TEST(ByteRingWriter, ClaimsSendsAndAbortsAtEveryOffsetOfTheWrap) {
  // Sizes 11..(11 + 63) against a 128-byte ring: the wrap falls at every
  // offset inside claims and copied frames alike; a third of the claims are
  // aborted or dropped and must leave no trace.
  memory_sink sink;
  auto buf = sink.buffer();
  ring_writer w(std::move(sink), ring_options(128, 8));
  auto h = w.handle();
  std::string expected;
  for (std::uint32_t i = 0; i < 4000; ++i) {
    const std::string payload((i * 7) % 53, static_cast<char>('A' + i % 26));
    const std::string wire = wire_bytes(i, payload);
    switch (i % 4) {
      case 0:
        ASSERT_TRUE(h.send(make_frame(i, payload)).ok());
        expected += wire;
        break;
      case 1:
        ASSERT_TRUE(claim_and_commit(h, wire).ok());
        expected += wire;
        break;
      case 2: {
        auto c = h.claim(wire.size());
        ASSERT_TRUE(c.ok()) << c.status();
        std::memset(c->data().data(), 0xEE, c->size());
        if (i % 8 == 2) c->abort();  // else dropped: aborts too
        break;
      }
      default: {
        auto c = h.claim(wire.size());
        ASSERT_TRUE(c.ok()) << c.status();
        auto moved = std::move(*c);  // a moved claim commits once, from its new home
        EXPECT_FALSE(c->active());
        std::memcpy(moved.data().data(), wire.data(), wire.size());
        ASSERT_TRUE(moved.commit().ok());
        EXPECT_EQ(moved.commit().code(), absl::StatusCode::kFailedPrecondition);
        expected += wire;
      }
    }
  }
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(buf->contents(), expected);
  EXPECT_EQ(decode_all(buf->contents()).size(), 3000u);
  EXPECT_EQ(w.stats().frames_accepted, 3000u);
  EXPECT_EQ(w.stats().frames_written, 3000u);
}

TEST(ByteRingWriter, RefusesWhatCannotFitWithAClearError) {
  ring_writer w(memory_sink{}, ring_options(128, 8));
  auto h = w.handle();
  absl::Status big = h.send(make_frame(1, std::string(200, 'x')));
  EXPECT_EQ(big.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(big.message(), HasSubstr("max_pending_bytes 128"));
  EXPECT_EQ(h.claim(0).status().code(), absl::StatusCode::kInvalidArgument);
  absl::Status claim = h.claim(65).status();
  EXPECT_EQ(claim.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(claim.message(), HasSubstr("largest claim the byte ring takes, 64"));
  EXPECT_EQ(h.send(outbound_frame()).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_accepted, 0u);
}

TEST(ByteRingWriter, ARingTooSmallForAFrameObjectSaysSo) {
  using by_ref_ring = byte_ring<outbound_frame, byte_ring_config{.by_reference_above = 0}>;
  basic_writer<by_ref_ring, memory_sink, condvar_backpressure, count_batcher> w(
      memory_sink{}, ring_options(32, 8));
  absl::Status s = w.handle().send(make_frame(1, "by reference"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(s.message(), HasSubstr("cannot hold a frame object"));
  EXPECT_TRUE(w.close().ok());
}

TEST(ByteRingWriter, TryClaimOnAFullRingIsResourceExhausted) {
  ring_writer w(memory_sink{}, ring_options(128, 8));
  auto h = w.handle();
  auto held = h.claim(60);  // holds back everything behind it
  ASSERT_TRUE(held.ok());
  auto second = h.try_claim(60);
  ASSERT_TRUE(second.ok());
  absl::Status third = h.try_claim(60).status();
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.message(), HasSubstr("byte ring is full"));
  held->abort();
  second->abort();
  EXPECT_TRUE(w.close().ok());
}

TEST(ByteRingWriter, AClaimNeverCommittedStopsTheWriterAfterClaimTimeout) {
  memory_sink sink;
  auto buf = sink.buffer();
  writer_options o = ring_options(1024, 16);
  o.claim_timeout = absl::Milliseconds(50);
  ring_writer w(std::move(sink), o);
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(1, "before")).ok());
  auto stuck = h.claim(wire_bytes(2, "stuck").size());
  ASSERT_TRUE(stuck.ok());
  ASSERT_TRUE(h.send(make_frame(3, "behind")).ok());
  // The writer gives up on the claim and stops; it does not wait for ever.
  absl::Status flushed = w.flush(absl::Now() + absl::Seconds(30));
  EXPECT_EQ(flushed.code(), absl::StatusCode::kDeadlineExceeded) << flushed;
  EXPECT_THAT(flushed.message(), HasSubstr("claim_timeout"));
  absl::Status late = stuck->commit();
  EXPECT_EQ(late.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(late.message(), HasSubstr("neither committed nor aborted within claim_timeout"));
  absl::Status closed = w.close();
  EXPECT_EQ(closed.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(closed.message(), HasSubstr("1 accepted frame(s) were not written"));
  EXPECT_EQ(buf->contents(), wire_bytes(1, "before")) << "nothing behind the claim, no gap";
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, 2u);
  EXPECT_EQ(st.frames_written + st.frames_lost, st.frames_accepted);
}

// A sink that fails its first write once the test lets it.
struct failing_sink {
  std::shared_ptr<testing_internal::gate> release = std::make_shared<testing_internal::gate>();
  absl::StatusOr<std::size_t> write(std::span<const const_buffer>) {
    release->wait_open();
    return absl::UnavailableError("test sink is gone");
  }
};

TEST(ByteRingWriter, ACommitAfterTheSinkFailedReturnsTheSinkFailure) {
  failing_sink sink;
  auto release = sink.release;
  basic_writer<ring, failing_sink, condvar_backpressure, count_batcher> w(std::move(sink),
                                                                          ring_options(1024, 16));
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(1, "the sink fails on this one")).ok());
  auto open_claim = h.claim(20);
  ASSERT_TRUE(open_claim.ok());
  release->open();
  while (w.status().ok()) absl::SleepFor(absl::Milliseconds(1));
  std::memset(open_claim->data().data(), 0, 20);
  absl::Status s = open_claim->commit();
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_THAT(s.message(), HasSubstr("test sink is gone"));
  EXPECT_EQ(w.close().code(), absl::StatusCode::kUnavailable);
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, 1u);
  EXPECT_EQ(st.frames_lost, 1u);
}

TEST(ByteRingWriter, CloseWaitsForAClaimCommittedInTime) {
  memory_sink sink;
  auto buf = sink.buffer();
  ring_writer w(std::move(sink), ring_options(1024, 16));
  auto h = w.handle();
  const std::string wire = wire_bytes(7, "late but in time");
  auto c = h.claim(wire.size());
  ASSERT_TRUE(c.ok());
  std::thread committer([&] {
    absl::SleepFor(absl::Milliseconds(20));
    std::memcpy(c->data().data(), wire.data(), wire.size());
    EXPECT_TRUE(c->commit().ok());
  });
  EXPECT_TRUE(w.close().ok());
  committer.join();
  EXPECT_EQ(buf->contents(), wire);
}

TEST(ByteRingWriter, CloseWithADeadlineDoesNotWaitForAStuckClaim) {
  memory_sink sink;
  auto buf = sink.buffer();
  writer_options o = ring_options(1024, 16);
  o.claim_timeout = absl::Hours(1);  // only the close deadline can end the wait
  ring_writer w(std::move(sink), o);
  auto h = w.handle();
  ASSERT_TRUE(h.send(make_frame(1, "written")).ok());
  auto stuck = h.claim(32);
  ASSERT_TRUE(stuck.ok());
  ASSERT_TRUE(h.send(make_frame(2, "behind the claim")).ok());
  absl::Status closed = w.close(absl::Now() + absl::Milliseconds(50));
  EXPECT_EQ(closed.code(), absl::StatusCode::kDeadlineExceeded) << closed;
  EXPECT_THAT(closed.message(), HasSubstr("1 accepted frame(s) were not written"));
  EXPECT_EQ(stuck->commit().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(buf->contents(), wire_bytes(1, "written"));
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, 2u);
  EXPECT_EQ(st.frames_written, 1u);
  EXPECT_EQ(st.frames_lost, 1u);
}

TEST(ByteRingWriter, SendInPlaceWritesWhatFillWritesAndAbortsOnError) {
  memory_sink sink;
  auto buf = sink.buffer();
  ring_writer w(std::move(sink), ring_options(1024, 16));
  auto h = w.handle();
  const std::string wire = wire_bytes(5, "in place");
  ASSERT_TRUE(h.send_in_place(wire.size(), [&](std::span<std::byte> out) {
                 std::memcpy(out.data(), wire.data(), wire.size());
               }).ok());
  absl::Status refused = h.send_in_place(
      20, [](std::span<std::byte>) { return absl::InvalidArgumentError("encoder says no"); });
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THROW(h.send_in_place(20, [](std::span<std::byte>) { throw std::runtime_error("x"); }),
               std::runtime_error);
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(buf->contents(), wire) << "the refused and the throwing fill left padding only";
  EXPECT_EQ(w.stats().frames_accepted, 1u);
}

// A sink that keeps the address of every range it is given.
struct address_sink {
  std::shared_ptr<std::vector<const std::byte*>> seen =
      std::make_shared<std::vector<const std::byte*>>();
  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    for (const const_buffer& b : buffers) seen->push_back(b.data);
    return total_size(buffers);
  }
};

TEST(ByteRingWriter, LargeFramesTravelByReferenceWithoutACopy) {
  using by_ref_ring = byte_ring<outbound_frame, byte_ring_config{.by_reference_above = 1000}>;
  address_sink sink;
  auto seen = sink.seen;
  basic_writer<by_ref_ring, address_sink, condvar_backpressure, count_batcher> w(
      std::move(sink), ring_options(4096, 16));
  auto h = w.handle();
  bytes big = bytes::copy_from(std::string(64 * 1024, 'p'));
  const std::byte* payload = big.data();
  absl::StatusOr<outbound_frame> f =
      outbound_frame::make(1, frame_flags::kResponseToParent, 1, std::move(big));
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(h.send(*std::move(f)).ok());
  ASSERT_TRUE(w.close().ok());
  EXPECT_THAT(*seen, ::testing::Contains(payload)) << "the payload itself, not a copy";
  EXPECT_EQ(w.stats().bytes_written, 64u * 1024 + 11);
}

// Documented (docs/failure-model.md): max_pending_bytes is the ring's size;
// a by-reference frame takes a frame object's bytes of it and pins its
// payload outside, so frames far above the bound are accepted and written,
// at most max_pending_frames of them pending.
TEST(ByteRingWriter, ByReferenceFramesPinTheirPayloadOutsideTheRingBound) {
  memory_sink sink;
  auto buffer = sink.buffer();
  basic_writer<byte_ring<outbound_frame>, memory_sink, condvar_backpressure, count_batcher> w(
      std::move(sink), ring_options(64 * 1024, 16));
  auto h = w.handle();
  for (std::uint32_t i = 1; i <= 8; ++i) {
    ASSERT_TRUE(h.send(make_frame(i, std::string(1 << 20, 'p'))).ok()) << i;
  }
  ASSERT_TRUE(w.close().ok());
  EXPECT_EQ(decode_all(buffer->contents()).size(), 8u);
  EXPECT_EQ(w.stats().bytes_written, 8u * ((1u << 20) + 11));
}

TEST(ByteRingWriter, ManyProducersWithClaimsAndAbortsKeepPerProducerOrder) {
  constexpr int kProducers = 8;
  const std::uint32_t per = kTsan ? 300 : 3000;
  memory_sink sink;
  auto buf = sink.buffer();
  ring_writer w(std::move(sink), ring_options(512, 32));
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      auto h = w.handle();
      for (std::uint32_t i = 0; i < per; ++i) {
        const std::uint32_t id = static_cast<std::uint32_t>(p) << 24 | i;
        const std::string payload((i * 13 + p) % 80, static_cast<char>('a' + p));
        if (i % 3 == 0) {
          absl::Status s = h.send(make_frame(id, payload));
          ASSERT_TRUE(s.ok()) << s;
        } else {
          absl::Status s = claim_and_commit(h, wire_bytes(id, payload));
          ASSERT_TRUE(s.ok()) << s;
          if (i % 5 == 0) {
            auto dropped = h.claim(20);
            ASSERT_TRUE(dropped.ok());
          }
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(w.close().ok());
  std::vector<std::uint32_t> next(kProducers, 0);
  for (const decoded_frame& f : decode_all(buf->contents())) {
    const std::uint32_t p = f.header.request_id >> 24, i = f.header.request_id & 0xFFFFFF;
    ASSERT_LT(p, static_cast<std::uint32_t>(kProducers));
    ASSERT_EQ(i, next[p]++) << "producer " << p;
    ASSERT_EQ(f.payload.as_string_view(),
              std::string((i * 13 + p) % 80, static_cast<char>('a' + p)));
  }
  for (int p = 0; p < kProducers; ++p) EXPECT_EQ(next[p], per);
  EXPECT_EQ(w.stats().frames_written, kProducers * per);
}

TEST(ByteRingWriter, TrySendRefusesWhenTheRingIsFull) {
  testing_internal::gated_sink sink;
  auto state = sink.s;
  basic_writer<ring, testing_internal::gated_sink, fail_fast_backpressure, count_batcher> w(
      std::move(sink), ring_options(256, 64));
  auto gated = w.handle();
  // The first frame holds the writer inside write(); then fill the ring.
  ASSERT_TRUE(gated.send(make_frame(0, std::string(100, 'x'))).ok());
  absl::Status s;
  int accepted = 1;
  while ((s = gated.try_send(make_frame(1, "0123456789"))).ok()) ++accepted;
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("byte ring is full"));
  EXPECT_LE(111 + (accepted - 1) * 21, 256) << "the byte bound holds";
  EXPECT_GE(111 + accepted * 21, 256) << "and the ring was really full";
  state->g.open();
  EXPECT_TRUE(w.close().ok());
  EXPECT_EQ(w.stats().frames_written, static_cast<std::uint64_t>(accepted));
}

}  // namespace
}  // namespace funnel
