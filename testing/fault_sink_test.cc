// funnel/testing/fault_sink.h: the script's semantics, call by call (the
// sink driven directly), and a real basic_writer coping with the faults:
// byte-identical output under short writes of every size, exact accounting
// when the sink dies after N bytes.
#include "funnel/testing/fault_sink.h"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/concepts.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/testing/frames.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::funnel::const_buffer;
using ::funnel::memory_sink;
using ::funnel::testing::fault;
using ::funnel::testing::fault_injecting_sink;
using ::funnel::testing::test_frame;
using ::funnel::testing::wire_bytes;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::Ge;
using ::testing::HasSubstr;
using ::testing::Le;

template <class Sink>
using writer_over = funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, Sink,
                                         funnel::sleep_backpressure, funnel::count_batcher>;

// A gather list over `data`, in ranges of `piece` bytes.
std::vector<const_buffer> ranges_of(const std::string& data, std::size_t piece) {
  std::vector<const_buffer> out;
  const auto* p = reinterpret_cast<const std::byte*>(data.data());
  for (std::size_t i = 0; i < data.size(); i += piece) {
    out.push_back({p + i, std::min(piece, data.size() - i)});
  }
  return out;
}

// Drives a sink the way a writer does: write until all of `data` is taken or
// an error; returns the sizes of the successful calls and the final status.
template <class Sink>
std::pair<std::vector<std::size_t>, absl::Status> write_all(Sink& sink, const std::string& data) {
  std::vector<const_buffer> gather = ranges_of(data, 7);
  std::span<const_buffer> rest(gather);
  std::vector<std::size_t> sizes;
  while (!rest.empty()) {
    absl::StatusOr<std::size_t> n = sink.write(rest);
    if (!n.ok()) return {sizes, n.status()};
    sizes.push_back(*n);
    rest = funnel::consume_front(rest, *n);
  }
  return {sizes, absl::OkStatus()};
}

// --- The script, call by call ---------------------------------------------------

TEST(FaultScript, EmptyScriptPassesEverything) {
  memory_sink mem;
  auto out = mem.buffer();
  fault_injecting_sink sink(std::move(mem));
  const std::string data(40, 'a');
  auto [sizes, status] = write_all(sink, data);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_THAT(sizes, ElementsAre(40u));
  EXPECT_EQ(out->contents(), data);
  EXPECT_EQ(sink.state()->short_writes(), 0u);
}

TEST(FaultScript, CallStepsApplyOneCallEachThenEverythingPasses) {
  memory_sink mem;
  auto out = mem.buffer();
  fault_injecting_sink sink(std::move(mem),
                            {fault::short_write(3), fault::pass(), fault::short_write(1)});
  auto state = sink.state();
  auto [first, s1] = write_all(sink, "abcdefghij");  // short_write(3), pass()
  EXPECT_TRUE(s1.ok()) << s1;
  EXPECT_THAT(first, ElementsAre(3u, 7u));
  EXPECT_EQ(state->script_remaining(), 1u);
  auto [second, s2] = write_all(sink, "klmno");  // short_write(1), past the end: pass
  EXPECT_TRUE(s2.ok()) << s2;
  EXPECT_THAT(second, ElementsAre(1u, 4u));
  EXPECT_EQ(out->contents(), "abcdefghijklmno");
  EXPECT_THAT(state->write_sizes(), ElementsAre(3u, 7u, 1u, 4u));
  EXPECT_EQ(state->short_writes(), 2u);
  EXPECT_EQ(state->write_calls(), 4u);
  EXPECT_EQ(state->script_remaining(), 0u);
}

TEST(FaultScript, FailIsStickyAndNeverReachesTheInnerSink) {
  memory_sink mem;
  auto out = mem.buffer();
  fault_injecting_sink sink(std::move(mem),
                            {fault::pass(), fault::fail(absl::UnavailableError("EPIPE"))});
  auto [sizes, status] = write_all(sink, "first");
  EXPECT_TRUE(status.ok()) << status;
  for (int i = 0; i < 3; ++i) {
    auto [more, failed] = write_all(sink, "second");
    EXPECT_TRUE(more.empty());
    EXPECT_EQ(failed, absl::UnavailableError("EPIPE"));
  }
  EXPECT_EQ(out->contents(), "first");
  EXPECT_EQ(sink.state()->injected_failures(), 3u);
  EXPECT_EQ(sink.state()->write_calls(), 4u);
}

TEST(FaultScript, FailAfterBytesCutsTheCrossingCallThenFails) {
  memory_sink mem;
  auto out = mem.buffer();
  fault_injecting_sink sink(std::move(mem),
                            {fault::fail_after_bytes(10, absl::UnavailableError("peer gone"))});
  const std::string data = "0123456789abcdef";
  auto [sizes, status] = write_all(sink, data);
  EXPECT_THAT(sizes, ElementsAre(10u));
  EXPECT_EQ(status, absl::UnavailableError("peer gone"));
  EXPECT_EQ(out->contents(), "0123456789");
  EXPECT_EQ(sink.state()->bytes_written(), 10u);
}

TEST(FaultScript, FailAfterBytesCountsFromWhereItIsRead) {
  memory_sink mem;
  fault_injecting_sink sink(
      std::move(mem),
      {fault::short_write(4), fault::fail_after_bytes(5, absl::UnavailableError("gone")),
       fault::short_writes(2)});
  auto [sizes, status] = write_all(sink, std::string(20, 'x'));
  EXPECT_THAT(sizes, ElementsAre(4u, 2u, 2u, 1u));  // 4, then 5 more in pieces of <= 2
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
}

TEST(FaultScript, FailAfterZeroBytesFailsTheFirstCall) {
  fault_injecting_sink sink(memory_sink{},
                            {fault::fail_after_bytes(0, absl::UnavailableError("closed"))});
  auto [sizes, status] = write_all(sink, "abc");
  EXPECT_TRUE(sizes.empty());
  EXPECT_EQ(status, absl::UnavailableError("closed"));
}

TEST(FaultScript, RandomShortWritesAreSeededAndBounded) {
  const std::string data(500, 'r');
  auto run = [&](std::uint64_t seed) {
    fault_injecting_sink sink(memory_sink{}, {fault::random_short_writes(seed, 9)});
    auto [sizes, status] = write_all(sink, data);
    EXPECT_TRUE(status.ok()) << status;
    return sizes;
  };
  const std::vector<std::size_t> a = run(7);
  EXPECT_THAT(a, Each(testing::AllOf(Ge(1u), Le(9u))));
  EXPECT_EQ(run(7), a) << "the same seed gives the same splits";
  EXPECT_NE(run(8), a);
}

TEST(FaultScript, OkStatusForAFailureIsReportedAsInvalidArgument) {
  fault_injecting_sink sink(memory_sink{}, {fault::fail(absl::OkStatus())});
  auto [sizes, status] = write_all(sink, "abc");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("fault::fail was given an OK status"));
}

// An inner sink with both optional hooks, to see them forwarded.
struct hooked_sink {
  int* flushes;
  int* starts;
  absl::StatusOr<std::size_t> write(std::span<const const_buffer> b) {
    return funnel::total_size(b);
  }
  absl::Status flush() {
    ++*flushes;
    return absl::OkStatus();
  }
  void on_writer_thread_start() { ++*starts; }
};

static_assert(!funnel::flushable_sink<fault_injecting_sink<memory_sink>> &&
                  !funnel::sink_with_thread_start<fault_injecting_sink<memory_sink>>,
              "hooks are offered only when Inner has them");
static_assert(funnel::flushable_sink<fault_injecting_sink<hooked_sink>> &&
              funnel::sink_with_thread_start<fault_injecting_sink<hooked_sink>>);

TEST(FaultSink, ForwardsTheOptionalHooks) {
  int flushes = 0, starts = 0;
  writer_over<fault_injecting_sink<hooked_sink>> w{
      fault_injecting_sink(hooked_sink{&flushes, &starts})};
  ASSERT_TRUE(w.handle().send(test_frame(1, 1, "x")).ok());
  ASSERT_TRUE(w.close().ok());  // joins: the counters are the writer thread's, now ours
  EXPECT_EQ(starts, 1);
  EXPECT_EQ(flushes, static_cast<int>(w.stats().batches));
}

// --- A writer over the fault sink -----------------------------------------------

// Frames of assorted sizes: empty, tiny, header-sized, larger than a header.
std::vector<funnel::outbound_frame> assorted_frames() {
  std::vector<funnel::outbound_frame> frames;
  const std::size_t sizes[] = {0, 1, 5, 11, 12, 30, 0, 64, 3, 200};
  std::uint32_t id = 0;
  for (int round = 0; round < 2; ++round) {
    for (std::size_t s : sizes) {
      std::string payload(s, '\0');
      for (std::size_t i = 0; i < s; ++i) payload[i] = static_cast<char>(id * 31 + i);
      frames.push_back(test_frame(1 + id % 3, id, payload));
      ++id;
    }
  }
  return frames;
}

// What the same frames give through a plain memory_sink.
std::string reference_stream(const std::vector<funnel::outbound_frame>& frames) {
  memory_sink mem;
  auto out = mem.buffer();
  writer_over<memory_sink> w(std::move(mem));
  auto h = w.handle();
  for (const funnel::outbound_frame& f : frames) EXPECT_TRUE(h.send(f).ok());
  EXPECT_TRUE(w.close().ok());
  return out->contents();
}

TEST(FaultSinkWriter, ShortWritesOfEverySizeGiveTheSameBytes) {
  const std::vector<funnel::outbound_frame> frames = assorted_frames();
  const std::string expected = reference_stream(frames);
  std::string concatenated;
  for (const funnel::outbound_frame& f : frames) concatenated += wire_bytes(f);
  ASSERT_EQ(expected, concatenated);

  for (std::size_t k = 1; k <= 2 * funnel::kHeaderSize + 3; ++k) {
    SCOPED_TRACE(::testing::Message() << "short_writes(" << k << ")");
    memory_sink mem;
    auto out = mem.buffer();
    fault_injecting_sink sink(std::move(mem), {fault::short_writes(k)});
    auto faults = sink.state();
    writer_over<fault_injecting_sink<memory_sink>> w(std::move(sink));
    auto h = w.handle();
    for (const funnel::outbound_frame& f : frames) ASSERT_TRUE(h.send(f).ok());
    ASSERT_TRUE(w.close().ok());
    EXPECT_EQ(out->contents(), expected);
    EXPECT_THAT(faults->write_sizes(), Each(Le(k)));
    // Every cut is a partial write the writer resumed from.
    EXPECT_EQ(w.stats().partial_writes, faults->short_writes());
    EXPECT_GT(faults->short_writes(), 0u);
    EXPECT_EQ(w.stats().frames_written, frames.size());
  }
}

TEST(FaultSinkWriter, RandomShortWritesGiveTheSameBytes) {
  const std::vector<funnel::outbound_frame> frames = assorted_frames();
  const std::string expected = reference_stream(frames);
  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    memory_sink mem;
    auto out = mem.buffer();
    writer_over<fault_injecting_sink<memory_sink>> w(
        fault_injecting_sink(std::move(mem), {fault::random_short_writes(seed, 40)}));
    auto h = w.handle();
    for (const funnel::outbound_frame& f : frames) ASSERT_TRUE(h.send(f).ok());
    ASSERT_TRUE(w.close().ok());
    EXPECT_EQ(out->contents(), expected);
  }
}

// The sink dies after n bytes: the writer stops with that status, exactly the
// frames inside the first n bytes count as written, and
// accepted == written + lost. Whatever the batching, so no timing control.
TEST(FaultSinkWriter, FailAfterBytesStopsTheWriterWithExactAccounting) {
  constexpr std::size_t kFrames = 10, kFrameSize = funnel::kHeaderSize + 5;  // 16
  std::string expected;
  for (std::uint32_t i = 0; i < kFrames; ++i) expected += wire_bytes(test_frame(1, i, "abcde"));

  for (std::uint64_t n : {0, 1, 11, 15, 16, 17, 32, 40, 100, 159}) {
    for (bool random_splits : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "fail_after_bytes(" << n << ")"
                                        << (random_splits ? " with random short writes" : ""));
      std::vector<fault> script = {fault::fail_after_bytes(n, absl::UnavailableError("peer gone"))};
      if (random_splits) script.push_back(fault::random_short_writes(n + 1, 7));
      memory_sink mem;
      auto out = mem.buffer();
      writer_over<fault_injecting_sink<memory_sink>> w(
          fault_injecting_sink(std::move(mem), std::move(script)));
      auto h = w.handle();
      std::uint64_t ok = 0;
      for (std::uint32_t i = 0; i < kFrames; ++i) {
        const absl::Status s = h.send(test_frame(1, i, "abcde"));
        if (s.ok()) {
          ++ok;
        } else {
          EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
          EXPECT_THAT(s.message(), HasSubstr("peer gone"));
        }
      }
      const absl::Status closed = w.close();
      EXPECT_EQ(closed.code(), absl::StatusCode::kUnavailable) << closed;
      EXPECT_THAT(closed.message(), HasSubstr("peer gone"));
      EXPECT_THAT(closed.message(), HasSubstr("accepted frame(s) were not written"));
      const funnel::writer_stats st = w.stats();
      EXPECT_EQ(st.frames_accepted, ok);
      EXPECT_EQ(st.frames_written + st.frames_lost, st.frames_accepted);
      EXPECT_EQ(st.frames_written, n / kFrameSize);
      EXPECT_EQ(st.bytes_written, n);
      EXPECT_EQ(out->contents(), expected.substr(0, n));
    }
  }
}

// The state can be watched while the writer runs, without sleeping.
TEST(FaultSinkWriter, StateCanBeAwaitedFromTheTestThread) {
  fault_injecting_sink sink(memory_sink{}, {fault::short_writes(4)});
  auto faults = sink.state();
  writer_over<fault_injecting_sink<memory_sink>> w(std::move(sink));
  ASSERT_TRUE(w.handle().send(test_frame(1, 1, "0123456789")).ok());  // 21 bytes
  EXPECT_TRUE(faults->await_bytes(21, absl::Now() + absl::Seconds(30)));
  EXPECT_TRUE(faults->await_write_calls(6, absl::Now() + absl::Seconds(30)));
  EXPECT_THAT(faults->write_sizes(), ElementsAreArray({4u, 4u, 4u, 4u, 4u, 1u}));
  EXPECT_TRUE(w.close().ok());
}

}  // namespace
