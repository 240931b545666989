// tests/byte_ring_socket_test.cc: funnel::byte_ring through a real AF_UNIX
// socket pair and a real pipe (posix_writev_sink). 8 producers mix send()
// (payloads of 0..3000 bytes copied into the ring, and some of 100 KiB sent by
// reference), claims and send_in_place into a 64 KiB ring of 256 records, so
// the ring wraps many times and producers wait for space. A reader thread
// takes the other end; the whole stream is decoded (procwire) and checked
// exactly: every frame, its payload bytes, in per-producer order. Then a
// reader that closes its end early: the writer fails with Unavailable naming
// the errno text, and every accepted frame is counted written or lost.
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/policies/queue/byte_ring.h"
#include "funnel/policies/sink/posix_writev_sink.h"
#include "funnel/procwire/frame.h"
#include "gtest/gtest.h"
#include "tests/posix_test_util.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

using namespace posix_test;  // NOLINT: the fd helpers
using ::funnel::testing_internal::decode_all;
using ::funnel::testing_internal::make_frame;

using ring = byte_ring<outbound_frame, byte_ring_config{.by_reference_above = 16384}>;
using ring_writer = basic_writer<ring, posix_writev_sink, condvar_backpressure, byte_batcher>;

constexpr std::uint32_t kProducers = 8;
constexpr std::uint32_t kFrames = testing_internal::kTsan ? 100 : 600;  // per producer
constexpr std::size_t kLarge = 100 * 1024;

writer_options small_ring() {
  writer_options o;
  o.max_pending_bytes = 64 * 1024;
  o.max_pending_frames = 256;
  // Nothing may time out on a loaded machine (TSan, 2 cores): the test's
  // guards are its own.
  o.backpressure_timeout = absl::Hours(1);
  o.claim_timeout = absl::Minutes(5);
  o.shutdown_timeout = absl::InfiniteDuration();
  return o;
}

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9u;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBu;
  return x ^ (x >> 31);
}

// Frame i of producer p: its request id, how it is sent, its payload.
enum class via { send, claim, in_place };
std::uint32_t id_of(std::uint32_t p, std::uint32_t i) { return p << 24 | i; }
via how(std::uint32_t i) { return static_cast<via>(i % 3); }
std::size_t payload_size(std::uint32_t p, std::uint32_t i) {
  const std::uint64_t r = mix(id_of(p, i));
  if (how(i) == via::send && r % 16 == 0) return kLarge;  // by reference
  return r % 3001;
}
std::byte payload_byte(std::uint32_t p, std::uint32_t i, std::size_t k) {
  return static_cast<std::byte>(mix(id_of(p, i) * 1'000'003u + k));
}
std::string payload(std::uint32_t p, std::uint32_t i) {
  std::string s(payload_size(p, i), '\0');
  for (std::size_t k = 0; k < s.size(); ++k) s[k] = static_cast<char>(payload_byte(p, i, k));
  return s;
}
void encode(std::uint32_t p, std::uint32_t i, std::span<std::byte> out) {
  const encoded_header h = encode_header({1, frame_flags::kResponseToParent, id_of(p, i),
                                          static_cast<std::uint32_t>(out.size() - kHeaderSize)});
  std::memcpy(out.data(), h.data(), h.size());
  for (std::size_t k = kHeaderSize; k < out.size(); ++k)
    out[k] = payload_byte(p, i, k - kHeaderSize);
}

// Sends producer p's frame i the way how(i) says.
absl::Status send_one(ring_writer::handle_type& h, std::uint32_t p, std::uint32_t i) {
  const std::size_t n = kHeaderSize + payload_size(p, i);
  switch (how(i)) {
    case via::send:
      return h.send(make_frame(id_of(p, i), payload(p, i)));
    case via::claim: {
      auto c = h.claim(n);
      if (!c.ok()) return c.status();
      encode(p, i, c->data());
      return c->commit();
    }
    default:
      return h.send_in_place(n, [p, i](std::span<std::byte> out) { encode(p, i, out); });
  }
}

class ByteRingOverFds : public ::testing::TestWithParam<bool> {
 protected:
  fd_pair make_fds() const { return GetParam() ? make_socketpair() : make_pipe(); }
};
INSTANTIATE_TEST_SUITE_P(SocketAndPipe, ByteRingOverFds, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Socket" : "Pipe"; });

TEST_P(ByteRingOverFds, EightProducersDecodeExactly) {
  fd_pair fds = make_fds();
  ring_writer w(posix_writev_sink(fds.write_end.get()), small_ring());
  std::vector<std::thread> producers;
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    producers.emplace_back([p, h = w.handle()]() mutable {
      for (std::uint32_t i = 0; i < kFrames; ++i) {
        absl::Status s = send_one(h, p, i);
        ASSERT_TRUE(s.ok()) << "producer " << p << " frame " << i << ": " << s;
      }
    });
  }
  // Nobody reads until the ring is full and a producer waits: backpressure
  // for sure (the stream is megabytes, the fd buffers a few hundred KiB).
  const bool waited = wait_until([&] { return w.stats().backpressure_waits > 0; });
  reader_thread reader(fds.read_end.get(), fds.write_end);
  for (std::thread& t : producers) t.join();
  ASSERT_TRUE(waited) << "no producer ever waited for the ring";
  ASSERT_TRUE(w.close().ok()) << w.status();
  const std::string stream = reader.close_and_join();

  std::vector<std::uint32_t> next(kProducers, 0);
  std::uint64_t large = 0;
  for (const decoded_frame& f : decode_all(stream)) {
    const std::uint32_t p = f.header.request_id >> 24, i = f.header.request_id & 0xFFFFFF;
    ASSERT_LT(p, kProducers) << "request id " << f.header.request_id;
    ASSERT_EQ(i, next[p]++) << "producer " << p << " out of order";
    ASSERT_EQ(f.header.method_id, 1);
    ASSERT_EQ(f.header.flags, frame_flags::kResponseToParent);
    ASSERT_EQ(f.payload.as_string_view(), payload(p, i)) << "producer " << p << " frame " << i;
    large += f.payload.size() == kLarge;
  }
  for (std::uint32_t p = 0; p < kProducers; ++p) EXPECT_EQ(next[p], kFrames) << "producer " << p;
  EXPECT_GT(large, 0u) << "some frames went by reference";
  const writer_stats st = w.stats();
  EXPECT_EQ(st.frames_accepted, std::uint64_t{kProducers} * kFrames);
  EXPECT_EQ(st.frames_written, st.frames_accepted);
  EXPECT_EQ(st.frames_lost, 0u);
  EXPECT_EQ(st.bytes_written, stream.size());
  EXPECT_GT(stream.size() - large * (kHeaderSize + kLarge), 8 * small_ring().max_pending_bytes)
      << "the bytes copied through the ring: it wrapped many times";
}

TEST_P(ByteRingOverFds, AReaderClosingEarlyFailsTheWriterWithTheErrnoText) {
  constexpr std::uint32_t kSenders = 4;
  fd_pair fds = make_fds();
  ring_writer w(posix_writev_sink(fds.write_end.get()), small_ring());
  std::vector<absl::Status> last(kSenders);
  std::vector<std::thread> producers;
  for (std::uint32_t p = 0; p < kSenders; ++p) {
    producers.emplace_back([p, &last, h = w.handle()]() mutable {
      // Until the failure reaches this producer (a claim the failed writer
      // abandoned fails its commit with the writer's failure too). Bounded: a
      // writer that never fails fails here.
      for (std::uint32_t i = 0; i < 1'000'000; ++i) {
        last[p] = send_one(h, p, i % 0xFFFFFF);
        if (!last[p].ok()) return;
      }
    });
  }
  // Take the start of the stream, then hang up.
  EXPECT_EQ(read_exactly(fds.read_end.get(), 64 * 1024).size(), 64u * 1024);
  fds.read_end.reset();
  for (std::thread& t : producers) t.join();
  // The errno text: EPIPE; on a socket, ECONNRESET instead when the reader
  // hung up with bytes unread (Linux says either, depending on the race).
  auto names_the_hang_up = [socket = GetParam()](const absl::Status& s) {
    return absl::StrContains(s.message(), ::strerror(EPIPE)) ||
           (socket && absl::StrContains(s.message(), ::strerror(ECONNRESET)));
  };
  for (std::uint32_t p = 0; p < kSenders; ++p) {
    EXPECT_EQ(last[p].code(), absl::StatusCode::kUnavailable)
        << "producer " << p << ": " << last[p];
    EXPECT_TRUE(names_the_hang_up(last[p])) << last[p];
  }
  const absl::Status closed = w.close();
  EXPECT_EQ(closed.code(), absl::StatusCode::kUnavailable) << closed;
  EXPECT_TRUE(names_the_hang_up(closed)) << closed;
  const writer_stats st = w.stats();
  EXPECT_GE(st.bytes_written, 64u * 1024) << "what the reader took";
  EXPECT_GT(st.frames_lost, 0u) << "the failed write carried at least one frame";
  EXPECT_EQ(st.frames_accepted, st.frames_written + st.frames_lost);
}

}  // namespace
}  // namespace funnel
