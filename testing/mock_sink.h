// funnel/testing/mock_sink.h
// -----------------------------------------------------------------------------
// A gmock Sink: set expectations on what a writer hands its sink, batch by
// batch, and script what the sink answers.
//
// This header defines
//   * `MockSink`: the gmock object (Write, Flush, OnWriterThreadStart). By
//     default Write accepts everything and Flush returns OK, so a NiceMock
//     needs no setup;
//   * `basic_mock_sink_ref<Hooks...>`: the movable Sink handed to
//     basic_writer, forwarding to a MockSink it does not own. A gmock object
//     cannot move, a Sink must; the ref is the bridge. `Hooks` name the
//     optional Sink hooks it offers (see funnel/concepts.h):
//       mock_sink_ref            = basic_mock_sink_ref<sink_hook::flush>
//       mock_sink_ref_no_flush   = basic_mock_sink_ref<>
//       basic_mock_sink_ref<sink_hook::flush, sink_hook::on_writer_thread_start>
//     A ref without sink_hook::flush has no flush() at all, so the writer
//     never calls Flush (that is compile-time, as with a real sink);
//   * gather-list matchers for Write's argument: BatchOfFrames(n),
//     BatchDecodesTo(frames_matcher), BatchBytes(n);
//   * Write actions: AcceptAll(), AcceptAtMost(k); and NotifyThenWait(), to
//     hold the writer thread inside a call until the test lets it go.
//
//   ::testing::StrictMock<funnel::testing::MockSink> sink;   // declare it first
//   ::testing::InSequence seq;
//   EXPECT_CALL(sink, Write(BatchOfFrames(1)));               // accepts all
//   EXPECT_CALL(sink, Flush());
//   writer w(funnel::testing::mock_sink_ref(sink));           // then the writer
//
// Rules that keep mock tests deterministic and TSan-clean:
//   * Declare the MockSink before the writer, so the writer (whose destructor
//     closes it and joins its thread) is gone before the mock is destroyed
//     and verifies its expectations.
//   * Set every expectation before constructing the writer (its thread may
//     call OnWriterThreadStart at once, and gmock must not be given new
//     expectations while another thread calls the mock).
//   * What lands in one batch depends on timing, unless the test makes it
//     not: hold the writer in a Write with NotifyThenWait, enqueue, release;
//     everything enqueued meanwhile is the next batch (up to the Batcher's
//     limit).
//   * Only the first Write of a batch starts on a frame boundary: after a
//     short answer (AcceptAtMost) the writer offers the rest, starting at the
//     exact byte where it stopped. BatchOfFrames / BatchDecodesTo match first
//     calls; use BatchBytes for the calls that follow.
//
// Thread-safety: gmock objects may be called from the writer thread while the
// test thread waits; the refs are called from the writer thread only.
#ifndef FUNNEL_TESTING_MOCK_SINK_H_
#define FUNNEL_TESTING_MOCK_SINK_H_

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <optional>
#include <ostream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"  // NotifyThenWait
#include "funnel/buffer.h"
#include "funnel/concepts.h"
#include "funnel/procwire/frame_decoder.h"  // decoded_frame
#include "funnel/testing/frames.h"
#include "gmock/gmock.h"

namespace funnel::testing {

// -----------------------------------------------------------------------------
// Write actions. Each is a callable gmock converts to an action:
// WillOnce(AcceptAll()), WillRepeatedly(AcceptAtMost(3)), or the last action
// of a DoAll.

// Takes the whole gather list: returns its total size.
inline auto AcceptAll() {
  return [](std::span<const const_buffer> buffers) -> absl::StatusOr<std::size_t> {
    return total_size(buffers);
  };
}

// Takes at most `k` bytes (a `k` of 0 is taken as 1: a sink never returns 0).
inline auto AcceptAtMost(std::size_t k) {
  k = std::max<std::size_t>(1, k);
  return [k](std::span<const const_buffer> buffers) -> absl::StatusOr<std::size_t> {
    return std::min(k, total_size(buffers));
  };
}

// Notifies `*entered` (when not null), then blocks until `*release` is
// notified. Both must outlive the call. Compose it:
//   WillOnce(DoAll(NotifyThenWait(&entered, &release), AcceptAll()))
// The test waits for `entered`, acts while the writer thread is held, then
// notifies `release`. Release it on every path (no ASSERT_* in between), or
// the writer's close() waits for ever.
inline auto NotifyThenWait(absl::Notification* entered, const absl::Notification* release) {
  return [entered, release] {
    if (entered != nullptr) entered->Notify();
    release->WaitForNotification();
  };
}

// -----------------------------------------------------------------------------
// The mock.

class MockSink {
 public:
  MockSink() {
    ON_CALL(*this, Write).WillByDefault(AcceptAll());
    ON_CALL(*this, Flush).WillByDefault(::testing::Return(absl::OkStatus()));
  }

  // Sink::write: the gather list of one call (never empty). Answer a byte
  // count in [1, total size] or an error; anything else makes the writer fail
  // with InternalError.
  MOCK_METHOD(absl::StatusOr<std::size_t>, Write, (std::span<const const_buffer> buffers));
  // Sink::flush, once after each completely written batch (refs with
  // sink_hook::flush only). An error stops the writer.
  MOCK_METHOD(absl::Status, Flush, ());
  // Sink::on_writer_thread_start, once on the writer thread before the first
  // Write (refs with sink_hook::on_writer_thread_start only).
  MOCK_METHOD(void, OnWriterThreadStart, ());
};

// The optional Sink hooks a mock_sink_ref forwards.
namespace sink_hook {
struct flush {};                   // flush() -> MockSink::Flush()
struct on_writer_thread_start {};  // on_writer_thread_start() -> MockSink::OnWriterThreadStart()
}  // namespace sink_hook

// A Sink that forwards to a MockSink it does not own (which must outlive every
// writer using the ref). Cheap to copy and move.
template <class... Hooks>
class basic_mock_sink_ref {
  static constexpr bool kFlush = (std::same_as<Hooks, sink_hook::flush> || ...);
  static constexpr bool kThreadStart =
      (std::same_as<Hooks, sink_hook::on_writer_thread_start> || ...);
  static_assert(((std::same_as<Hooks, sink_hook::flush> ||
                  std::same_as<Hooks, sink_hook::on_writer_thread_start>)&&...),
                "funnel: basic_mock_sink_ref takes only sink_hook::flush and "
                "sink_hook::on_writer_thread_start");

 public:
  // Accepts a MockSink, NiceMock<MockSink> or StrictMock<MockSink>.
  explicit basic_mock_sink_ref(MockSink& mock) noexcept : mock_(&mock) {}

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    return mock_->Write(buffers);
  }
  absl::Status flush() requires kFlush { return mock_->Flush(); }
  void on_writer_thread_start() requires kThreadStart { mock_->OnWriterThreadStart(); }

  MockSink& mock() const noexcept { return *mock_; }

 private:
  MockSink* mock_;
};

using mock_sink_ref = basic_mock_sink_ref<sink_hook::flush>;
using mock_sink_ref_no_flush = basic_mock_sink_ref<>;

static_assert(flushable_sink<mock_sink_ref> && !sink_with_thread_start<mock_sink_ref>);
static_assert(sink<mock_sink_ref_no_flush> && !flushable_sink<mock_sink_ref_no_flush>);
static_assert(
    flushable_sink<basic_mock_sink_ref<sink_hook::flush, sink_hook::on_writer_thread_start>> &&
    sink_with_thread_start<
        basic_mock_sink_ref<sink_hook::flush, sink_hook::on_writer_thread_start>>);

// -----------------------------------------------------------------------------
// Matchers for a gather list (Write's argument).

namespace detail {  // not part of the kit's API: do not rely on anything here

// Decodes the gather list, then matches either the frames (a matcher of
// std::vector<decoded_frame>) or just their count.
class batch_decodes_matcher : public ::testing::MatcherInterface<std::span<const const_buffer>> {
 public:
  explicit batch_decodes_matcher(::testing::Matcher<const std::vector<decoded_frame>&> frames)
      : frames_(std::move(frames)) {}
  explicit batch_decodes_matcher(::testing::Matcher<std::size_t> count)
      : count_(std::move(count)) {}

  bool MatchAndExplain(std::span<const const_buffer> buffers,
                       ::testing::MatchResultListener* listener) const override {
    absl::StatusOr<std::vector<decoded_frame>> frames = decode_frames(buffers);
    if (!frames.ok()) {
      *listener << "which is not a sequence of whole frames (" << frames.status().message() << ")";
      return false;
    }
    ::testing::StringMatchResultListener inner;
    const bool matched = count_ ? count_->MatchAndExplain(frames->size(), &inner)
                                : frames_->MatchAndExplain(*frames, &inner);
    *listener << "which decodes to " << frames->size() << " frame(s) "
              << ::testing::PrintToString(*frames);
    if (!inner.str().empty()) *listener << ", " << inner.str();
    return matched;
  }
  void DescribeTo(std::ostream* os) const override {
    *os << "is a gather list of whole frames ";
    describe(os);
  }
  void DescribeNegationTo(std::ostream* os) const override {
    *os << "is not a gather list of whole frames ";
    describe(os);
  }

 private:
  void describe(std::ostream* os) const {
    if (count_) {
      *os << "whose count ";
      count_->DescribeTo(os);
    } else {
      *os << "that ";
      frames_->DescribeTo(os);
    }
  }

  std::optional<::testing::Matcher<const std::vector<decoded_frame>&>> frames_;
  std::optional<::testing::Matcher<std::size_t>> count_;
};

}  // namespace detail

// The gather list decodes to whole, valid frames (no partial frame at either
// end) that match `frames_matcher`, a matcher of std::vector<decoded_frame>:
//   Write(BatchDecodesTo(ElementsAre(HasRequestId(1), HasRequestId(2))))
template <class M>
::testing::Matcher<std::span<const const_buffer>> BatchDecodesTo(M frames_matcher) {
  return ::testing::MakeMatcher(new detail::batch_decodes_matcher(
      ::testing::SafeMatcherCast<const std::vector<decoded_frame>&>(std::move(frames_matcher))));
}

// The gather list is exactly `n` whole frames (`n` a count or a count
// matcher, e.g. Ge(2u): unsigned, as for any size matcher under -Wsign-compare). The writer offers
// a batch's whole frames on the batch's first Write call.
template <class M>
::testing::Matcher<std::span<const const_buffer>> BatchOfFrames(M n) {
  return ::testing::MakeMatcher(
      new detail::batch_decodes_matcher(::testing::MatcherCast<std::size_t>(std::move(n))));
}

// The gather list's total size in bytes (a value or a matcher).
template <class M>
auto BatchBytes(M n) {
  return ::testing::ResultOf(
      "total size", [](std::span<const const_buffer> b) { return total_size(b); },
      ::testing::MatcherCast<std::size_t>(std::move(n)));
}

}  // namespace funnel::testing

#endif  // FUNNEL_TESTING_MOCK_SINK_H_
