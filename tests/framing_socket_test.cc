// Length-prefixed frames through a real AF_UNIX socket: 8 producers, one
// funnel writer with posix_writev_sink, one reader thread that decodes the
// stream chunk by chunk (the testing kit's length_prefixed_decoder). The
// decoded stream must match exactly: every body byte for byte, in
// per-producer order, nothing missing, nothing extra. Once per prefix.
//
// Bodies carry (producer, sequence) in their first 8 bytes; lengths are
// pseudo-random, some above 64 KiB. Bodies shorter than 8 bytes (0..7, empty
// ones included) come from producer 0 only, so each one is still attributed:
// it must be producer 0's next frame.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "funnel/basic_writer.h"
#include "funnel/bytes.h"
#include "funnel/framing/length_prefixed.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/posix_writev_sink.h"
#include "funnel/policy_set.h"
#include "funnel/testing/framing_decoders.h"
#include "gtest/gtest.h"
#include "tests/posix_test_util.h"
#include "tests/test_util.h"

namespace funnel {
namespace {

constexpr int kProducers = 8;
constexpr int kFrames = testing_internal::kTsan ? 60 : 300;

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9u;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBu;
  return x ^ (x >> 31);
}

std::size_t body_size(int t, int i) {
  const std::uint64_t r = mix((static_cast<std::uint64_t>(t) << 32) | static_cast<unsigned>(i));
  if (t == 0 && i % 10 == 0) return i % 20 == 0 ? 0 : r % 8;  // short: producer 0 only
  if (r % 20 == 0) return 65537 + r % 150000;                 // above 64 KiB
  return 8 + r % 3000;
}

std::string body(int t, int i) {
  std::string b(body_size(t, i), '\0');
  const std::uint32_t head[2] = {static_cast<std::uint32_t>(t), static_cast<std::uint32_t>(i)};
  std::memcpy(b.data(), head, std::min(b.size(), sizeof head));
  for (std::size_t k = sizeof head; k < b.size(); ++k) {
    b[k] = static_cast<char>(mix(static_cast<std::uint64_t>(t) * 1'000'003 + i * 7919 + k));
  }
  return b;
}

template <class F>
class FramingSocket : public ::testing::Test {};
using frame_types =
    ::testing::Types<framing::varint_frame, framing::be32_frame, framing::le32_frame>;
TYPED_TEST_SUITE(FramingSocket, frame_types);

TYPED_TEST(FramingSocket, EightProducersDecodeExactly) {
  using F = TypeParam;
  using writer_type =
      writer_for<policy_set<mpsc_ring<F>, posix_writev_sink, condvar_backpressure, count_batcher>>;
  auto [writer_end, reader_end] = posix_test::make_socketpair();

  std::vector<std::string> received;  // the reader thread's until joined
  absl::Status decode_status;
  std::thread reader([&, fd = reader_end.get()] {
    testing::length_prefixed_decoder<typename F::prefix_type> d;
    std::vector<char> buf(1 << 16);
    for (;;) {
      const ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n <= 0) break;
      d.push(std::string_view(buf.data(), static_cast<std::size_t>(n)));
      for (;;) {
        absl::StatusOr<std::optional<bytes>> b = d.next();
        if (!b.ok()) decode_status = b.status();
        if (!b.ok() || !b->has_value()) break;
        received.emplace_back((*b)->as_string_view());
      }
    }
    if (decode_status.ok()) decode_status = d.finish();
  });

  writer_options o;
  o.max_pending_frames = 64;
  writer_type w(posix_writev_sink(writer_end.get()), o);
  std::vector<std::thread> producers;
  for (int t = 0; t < kProducers; ++t) {
    producers.emplace_back([&w, t] {
      auto h = w.handle();
      for (int i = 0; i < kFrames; ++i) {
        absl::StatusOr<F> f = F::make(bytes::copy_from(body(t, i)));
        ASSERT_TRUE(f.ok()) << f.status();
        absl::Status s;
        do {
          s = h.send(*std::move(f));  // left untouched unless accepted
        } while (s.code() == absl::StatusCode::kDeadlineExceeded);
        ASSERT_TRUE(s.ok()) << s;
      }
    });
  }
  for (std::thread& p : producers) p.join();
  ASSERT_TRUE(w.close().ok());
  ::shutdown(writer_end.get(), SHUT_WR);  // EOF to the reader
  reader.join();

  ASSERT_TRUE(decode_status.ok()) << decode_status;
  ASSERT_EQ(received.size(), static_cast<std::size_t>(kProducers * kFrames));
  std::vector<int> next(kProducers, 0);
  for (const std::string& b : received) {
    int t = 0;  // a body too short to carry its ids is producer 0's
    if (b.size() >= 8) {
      std::uint32_t head[2];
      std::memcpy(head, b.data(), sizeof head);
      t = static_cast<int>(head[0]);
      ASSERT_LT(t, kProducers);
      ASSERT_EQ(head[1], static_cast<std::uint32_t>(next[t]))
          << "producer " << t << " out of order";
    }
    const int i = next[t]++;
    ASSERT_LT(i, kFrames);
    ASSERT_EQ(b, body(t, i)) << "producer " << t << " frame " << i;
  }
  EXPECT_EQ(w.stats().frames_written, static_cast<std::uint64_t>(kProducers * kFrames));
}

}  // namespace
}  // namespace funnel
