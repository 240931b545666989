// funnel/testing/sink_conformance.h
// -----------------------------------------------------------------------------
// The Sink conformance suite (funnel/concepts.h, "Sink") as a GoogleTest
// type-parameterized suite, `funnel::testing::SinkConformance<T>`. It calls
// the sink the way the writer thread does (on_writer_thread_start, write()
// in a loop that resumes at the exact byte after a short count, flush(),
// on_writer_thread_stop) and checks what arrives at the other end. funnel's
// own sinks run it too (tests/conformance/sink_conformance_test.cc).
//
// Instantiate it in exactly one .cc file of your test binary (Bazel:
// //testing:sink_conformance), inside namespace funnel::testing (for the
// reasons given in backpressure_conformance.h), after specialising the
// traits below:
//
//   #include "funnel/testing/sink_conformance.h"
//
//   namespace funnel::testing {
//   template <>
//   struct sink_conformance_traits<my_sink> { ... };
//   INSTANTIATE_TYPED_TEST_SUITE_P(MyTeam, SinkConformance, ::testing::Types<my_sink>);
//   }  // namespace funnel::testing
//
// Customisation point: `sink_conformance_traits<T>`, which you specialise for
// T (normally your sink type). The suite default-constructs one per test and
// destroys it at the end of the test; it is the harness that owns the sink
// and whatever receives its bytes (a buffer, a pipe and a reader thread, ...).
// Required:
//   sink_type& sink()       the sink under test. The suite calls it from the
//                           test's thread only, as the writer thread would
//                           (cancel() aside, which is also the test thread).
//   std::string finish()    called at most once, after the suite's last
//                           write: ends the stream if it has to (closes a
//                           write end, joins a reader thread) and returns
//                           every byte that reached the other end, in order.
//                           The destructor must cope with finish() never
//                           being called.
// Optional:
//   using sink_type = S;    when T is not the sink type itself (funnel runs
//                           posix_writev_sink over a pipe and over a
//                           socketpair, with two tag types).
//   void break_peer();      makes the sink's next writes fail, the way its
//                           medium fails (closes the reading end of a pipe):
//                           the suite checks that the error names its cause.
//
// What it checks: every write() returns an error or a count in [1, offered],
// never 0; the bytes that arrive are the concatenation of the gather lists,
// in order, for lists of one range, of thousands of 1-byte ranges (more than
// IOV_MAX), of ranges up to 1 MiB, and of many batches in a row; flush() (if
// present) returns OK after a successful write; cancel() (if present) is
// idempotent, makes every later write() fail with a message, and keeps what
// was written before; an error after break_peer() has a message.
#ifndef FUNNEL_TESTING_SINK_CONFORMANCE_H_
#define FUNNEL_TESTING_SINK_CONFORMANCE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "funnel/buffer.h"
#include "funnel/concepts.h"
#include "gtest/gtest.h"

namespace funnel::testing {

// Specialise for your sink (see above); there is no primary definition.
template <class T>
struct sink_conformance_traits;

namespace conformance {
template <class H, class T>
struct sink_type_of {
  using type = T;
};
template <class H, class T>
requires requires { typename H::sink_type; }
struct sink_type_of<H, T> {
  using type = typename H::sink_type;
};

// A batch: `sizes` ranges cut from one byte pattern that depends on `seed`,
// so a byte out of place (or a range written twice) shows.
struct gather_batch {
  std::string bytes;
  std::vector<const_buffer> ranges;

  gather_batch(std::uint32_t seed, const std::vector<std::size_t>& sizes) {
    std::size_t total = 0;
    for (std::size_t s : sizes) total += s;
    bytes.resize(total);
    for (std::size_t k = 0; k < total; ++k) {
      bytes[k] = static_cast<char>((k * 131 + seed * 7 + k / 251) & 0xFF);
    }
    const auto* base = reinterpret_cast<const std::byte*>(bytes.data());
    std::size_t at = 0;
    for (std::size_t s : sizes) {
      ranges.push_back({base + at, s});
      at += s;
    }
  }
};
}  // namespace conformance

template <class T>
class SinkConformance : public ::testing::Test {
 protected:
  using harness = sink_conformance_traits<T>;
  using S = typename conformance::sink_type_of<harness, T>::type;
  static_assert(sink<S>,
                "funnel::testing::SinkConformance: the sink must model funnel::sink (see "
                "funnel/concepts.h, \"Sink\")");
  static_assert(
      requires(harness & h) {
        { h.sink() } -> std::same_as<S&>;
        { h.finish() } -> std::same_as<std::string>;
      },
      "funnel::testing::SinkConformance: sink_conformance_traits<T> needs `sink_type& sink()` "
      "and `std::string finish()` (see funnel/testing/sink_conformance.h)");

  harness h_;

  void start() {
    if constexpr (sink_with_thread_start<S>) h_.sink().on_writer_thread_start();
  }
  void stop() {
    if constexpr (sink_with_thread_stop<S>) h_.sink().on_writer_thread_stop();
  }

  // Writes all of `list` as the writer does; checks every count. Returns the
  // first error, or OK.
  absl::Status write_all(std::span<const const_buffer> list) {
    std::vector<const_buffer> rest(list.begin(), list.end());
    std::span<const_buffer> left(rest);
    std::size_t remaining = total_size(list);
    while (remaining > 0) {
      absl::StatusOr<std::size_t> n = h_.sink().write(left);
      if (!n.ok()) return n.status();
      if (*n == 0 || *n > remaining) {
        ADD_FAILURE() << "write() returned " << *n << " for " << remaining << " bytes offered";
        return absl::InternalError("contract broken");
      }
      remaining -= *n;
      left = consume_front(left, *n);
    }
    if constexpr (flushable_sink<S>) return h_.sink().flush();
    return absl::OkStatus();
  }

  // Writes each batch in turn; checks the stream is their concatenation.
  void write_and_check(const std::vector<std::vector<std::size_t>>& batches) {
    std::string expected;
    start();
    for (std::size_t b = 0; b < batches.size(); ++b) {
      const conformance::gather_batch batch(static_cast<std::uint32_t>(b), batches[b]);
      expected += batch.bytes;
      const absl::Status s = write_all(batch.ranges);
      EXPECT_TRUE(s.ok()) << "batch " << b << ": " << s;
      if (!s.ok()) break;
    }
    stop();
    const std::string got = h_.finish();
    EXPECT_EQ(got.size(), expected.size());
    EXPECT_TRUE(got == expected) << "the bytes that arrived are not the gather lists in order";
  }
};
TYPED_TEST_SUITE_P(SinkConformance);

TYPED_TEST_P(SinkConformance, OneRangeArrivesWhole) { this->write_and_check({{1}, {100}}); }

TYPED_TEST_P(SinkConformance, ManyTinyRangesResumeAtTheExactByte) {
  // More 1-byte ranges than IOV_MAX (1024 on Linux), so a gather sink must
  // write short and be called again with the rest.
  this->write_and_check({std::vector<std::size_t>(3000, 1), std::vector<std::size_t>(1500, 3)});
}

TYPED_TEST_P(SinkConformance, MixedAndLargeRangesArriveInOrder) {
  this->write_and_check({{11, 5, 11, 4096, 11, 1}, {std::size_t{1} << 20}, {7, 65536, 3, 200000}});
}

TYPED_TEST_P(SinkConformance, ManyBatchesFormOneStream) {
  std::vector<std::vector<std::size_t>> batches;
  for (std::size_t b = 0; b < 200; ++b) {
    std::vector<std::size_t> sizes;
    for (std::size_t r = 0; r < 1 + b % 17; ++r) sizes.push_back(1 + (b * 31 + r * 97) % 900);
    batches.push_back(sizes);
  }
  this->write_and_check(batches);
}

TYPED_TEST_P(SinkConformance, FlushAfterAWriteIsOk) {
  using S = typename TestFixture::S;
  if constexpr (!flushable_sink<S>) {
    GTEST_SKIP() << "no flush()";
  } else {
    this->start();
    const conformance::gather_batch batch(1, {11, 20});
    EXPECT_TRUE(this->write_all(batch.ranges).ok());  // write_all flushes once
    const absl::Status again = this->h_.sink().flush();
    EXPECT_TRUE(again.ok()) << "a second flush with nothing new: " << again;
    this->stop();
    EXPECT_EQ(this->h_.finish(), batch.bytes);
  }
}

TYPED_TEST_P(SinkConformance, CancelIsIdempotentAndFailsLaterWrites) {
  using S = typename TestFixture::S;
  if constexpr (!cancellable_sink<S>) {
    GTEST_SKIP() << "no cancel()";
  } else {
    this->start();
    const conformance::gather_batch before(1, {11, 300});
    ASSERT_TRUE(this->write_all(before.ranges).ok());
    this->h_.sink().cancel();
    this->h_.sink().cancel();  // idempotent
    const conformance::gather_batch after(2, {11, 30});
    for (int i = 0; i < 2; ++i) {
      const absl::StatusOr<std::size_t> n = this->h_.sink().write(after.ranges);
      EXPECT_FALSE(n.ok()) << "write " << i << " after cancel() succeeded";
      if (!n.ok()) {
        EXPECT_FALSE(n.status().message().empty()) << "an error must name its cause";
      }
    }
    this->h_.sink().cancel();  // still fine after failed writes
    this->stop();
    EXPECT_TRUE(this->h_.finish() == before.bytes) << "cancel() lost or added bytes";
  }
}

TYPED_TEST_P(SinkConformance, ErrorsNameTheirCause) {
  using H = typename TestFixture::harness;
  if constexpr (!requires(H & h) { h.break_peer(); }) {
    GTEST_SKIP() << "the harness has no break_peer()";
  } else {
    this->start();
    const conformance::gather_batch batch(3, {11, 100});
    ASSERT_TRUE(this->write_all(batch.ranges).ok());
    this->h_.break_peer();
    absl::Status s;
    for (int i = 0; i < 100 && s.ok(); ++i) s = this->write_all(batch.ranges);
    EXPECT_FALSE(s.ok()) << "100 batches went into a broken peer without an error";
    EXPECT_FALSE(s.message().empty()) << "an error must name its cause: " << s;
    this->stop();
  }
}

REGISTER_TYPED_TEST_SUITE_P(SinkConformance, OneRangeArrivesWhole,
                            ManyTinyRangesResumeAtTheExactByte, MixedAndLargeRangesArriveInOrder,
                            ManyBatchesFormOneStream, FlushAfterAWriteIsOk,
                            CancelIsIdempotentAndFailsLaterWrites, ErrorsNameTheirCause);

}  // namespace funnel::testing

#endif  // FUNNEL_TESTING_SINK_CONFORMANCE_H_
