// funnel/detail/ring_drain_loop.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// `ring_drain_loop<Q, S, B, Bt, O>`: the writer thread over a byte queue
// (byte_ring). Same shape as drain_loop.h: wait, take a batch, write,
// publish. A batch is every committed record from the cursor on that the
// Batcher admits (and up to kMaxRanges ranges): copied records become one
// range per contiguous region (two across the wrap), by-reference frames
// their wire() ranges, padding nothing. Publishing destroys the batch's
// frame objects, frees its bytes in the ring (one release store), counts
// and wakes producers and flush() callers. An Observer O other than
// no_observer hears of each batch once it is written, before it is
// published (detail/observation.h).
//
// Waiting: on the ring's event count (phased: it spins first only if the
// ring's config says so). A claim next in line that is not committed within
// options.claim_timeout is abandoned and fails the writer (see options.h).
//
// Exceptions: anything a policy throws fails the writer with Internal; the
// records not written are counted lost (ring_failure_drain below).
// Allocation: the gather list and the frame list, once, at kMaxRanges.
#ifndef FUNNEL_DETAIL_RING_DRAIN_LOOP_H_
#define FUNNEL_DETAIL_RING_DRAIN_LOOP_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/concepts.h"
#include "funnel/detail/batch_write.h"
#include "funnel/detail/observation.h"
#include "funnel/detail/ring_words.h"
#include "funnel/detail/writer_shared.h"
#include "funnel/detail/writer_thread.h"

namespace funnel::detail {

template <class Q, class S, class B, class Bt, class O = no_observer>
class ring_drain_loop {
  using F = typename Q::value_type;

 public:
  // Ranges per batch at most: IOV_MAX on Linux, so one writev can take it.
  static constexpr std::size_t kMaxRanges = 1024;

  ring_drain_loop(writer_shared<Q, B>& shared, S sink, Bt batcher, O observer = O{})
      : w_(shared),
        q_(shared.queue),
        sink_(std::move(sink)),
        batcher_(std::move(batcher)),
        observation_(std::move(observer)) {}

  S& sink() noexcept { return sink_; }

  // The thread's body: it survives whatever a policy throws (writer_thread.h).
  void run() noexcept {
    run_writer_thread(
        w_, sink_, [this] { return loop(); }, [this] { drain_as_lost(); });
  }

 private:
  struct cursor {
    std::uint64_t count = 0;  // next record
    std::uint64_t at = 0;     // its first byte
  };

  bool loop() {
    if constexpr (sink_with_thread_start<S>) sink_.on_writer_thread_start();
    gather_.reserve(kMaxRanges + F::max_ranges + 2);
    frames_.reserve(kMaxRanges);
    for (;;) {
      batch_stats st{};
      batch_start_ = next_;
      bool full = collect(st);
      if constexpr (batcher_with_linger<Bt>) {
        if (!full && st.frames > 0) full = linger(st);
      }
      if (st.frames == 0 && next_.count == batch_start_.count) {
        if (const std::optional<bool> done = wait_for_record()) return *done;
        continue;
      }
      if (st.frames > 0) {
        if constexpr (kObserved<O>) observation_.taken(w_, st.frames);
        if (absl::Status s = write_whole(sink_, std::span<const_buffer>(gather_), st.bytes, w_,
                                         batch_done_, observation_.timing());
            !s.ok()) {
          w_.fail(absl::UnavailableError(absl::StrCat("sink failed: ", s.ToString())));
          return false;
        }
        if constexpr (kObserved<O>) observation_.written(w_, st);
      }
      publish(st);
      if (w_.failed()) return false;
    }
  }

  // The committed state of record `c`, or nullopt (not committed, or claimed).
  std::optional<std::uint64_t> committed(const cursor& c) const noexcept {
    const std::uint64_t s = q_.state(c.count);
    if (ring::state_count(s) != (c.count & ring::kCountMask)) return std::nullopt;
    const ring::kind k = ring::state_kind(s);
    if (k == ring::kData || k == ring::kPadding || k == ring::kFrame) return s;
    return std::nullopt;
  }

  // Wire bytes of a committed record (0 for padding).
  std::size_t wire_size(const cursor& c, std::uint64_t s) const noexcept {
    switch (ring::state_kind(s)) {
      case ring::kData:
        return q_.data_size(c.at, s);
      case ring::kFrame:
        return q_.frame_at(c.at, ring::state_wraps(s))->size();
      default:
        return 0;
    }
  }

  // Adds committed records at next_ to the batch while the batcher admits
  // them. Returns true when the batch is full (refused or out of ranges),
  // false when the next record is not committed yet.
  bool collect(batch_stats& st) {
    for (;;) {
      if (gather_.size() + F::max_ranges + 2 > kMaxRanges) return true;
      const std::optional<std::uint64_t> s = committed(next_);
      if (!s) return false;
      const std::size_t size = wire_size(next_, *s);
      if (size > 0 && st.frames > 0 && !batcher_.admits(st, size)) return true;
      if (ring::state_kind(*s) == ring::kData) {
        q_.data_ranges(next_.at, *s, gather_);
      } else if (ring::state_kind(*s) == ring::kFrame) {
        F* f = q_.frame_at(next_.at, ring::state_wraps(*s));
        for (const const_buffer& r : f->wire()) gather_.push_back(r);
        frames_.push_back(f);
      }
      if (size > 0) {
        ++st.frames;
        st.bytes += size;
      }
      ++next_.count;
      next_.at += ring::state_span(*s);
    }
  }

  // The ring ran dry with a partial batch: wait as the batcher says.
  bool linger(batch_stats& st) {
    absl::Time deadline = absl::InfinitePast();
    for (;;) {
      const absl::Duration wait = batcher_.linger(st);
      if (wait <= absl::ZeroDuration()) return false;
      if (deadline == absl::InfinitePast()) deadline = absl::Now() + wait;
      if (!q_.wait_readable([&] { return committed(next_).has_value() || q_.closed(); },
                            deadline)) {
        return false;
      }
      if (!committed(next_)) return false;  // closed
      if (collect(st)) return true;
    }
  }

  // Nothing committed at the cursor: wait for a commit, the close, the
  // failure, or a claim's timeout. Returns whether the loop ends (and how),
  // or nullopt to look again.
  std::optional<bool> wait_for_record() {
    const std::uint64_t s0 = q_.state(next_.count);
    const bool mine = ring::state_count(s0) == (next_.count & ring::kCountMask);
    const ring::kind k0 = ring::state_kind(s0);
    if (mine && k0 != ring::kClaimed && k0 != ring::kAbandoned) return std::nullopt;  // committed
    const bool claimed = mine && k0 == ring::kClaimed;
    if (claimed && claim_count_ != next_.count) {  // a claim next in line: its clock starts
      claim_count_ = next_.count;
      claim_seen_ = absl::Now();
    }
    // seq_cst: the closing half of the shutdown handshake (writer_shared.h).
    const writer_state st = w_.state.load(std::memory_order_seq_cst);
    if (st == writer_state::kFailed) return false;
    const bool open = st == writer_state::kOpen;
    if (!open && !claimed && q_.tail() == ring::pack_position(next_.count, next_.at)) {
      w_.finish_clean();  // every reserved record is written; none can come
      return true;
    }
    const absl::Time deadline =
        claimed ? claim_seen_ + w_.options.claim_timeout : absl::InfiniteFuture();
    const bool woken = q_.wait_readable(
        [&] { return q_.state(next_.count) != s0 || (open && q_.closed()) || w_.failed(); },
        deadline);
    if (!woken && claimed && q_.abandon(next_.count, s0)) {
      w_.fail(absl::DeadlineExceededError(
          absl::StrCat("a claim of ", ring::state_span(s0),
                       " bytes was neither committed nor aborted within "
                       "claim_timeout ",
                       absl::FormatDuration(w_.options.claim_timeout),
                       "; writer stopped (the frames behind it cannot be written in order)")));
      return false;
    }
    return std::nullopt;
  }

  void publish(const batch_stats& st) {
    for (F* f : frames_) f->~F();  // payload references go before the space
    frames_.clear();
    gather_.clear();
    batch_done_ = 0;
    // Counted before the space is freed, so accepted - processed (the
    // handles' pending_count()) does not exceed the ring's record bound on
    // account of the writer. (Under a drop policy it may read one high per
    // producer for an instant: a drop is counted accepted just before it is
    // counted dropped, detail/overflow.h.)
    w_.bump(w_.frames_written, st.frames);
    q_.release(next_.count, next_.at);
    if (st.frames > 0) w_.bump(w_.batches, 1);
    w_.notify_released();
    w_.progress.notify_all();
  }

  // The writer failed: count the batch (written up to batch_done_) and every
  // record behind it, then free the ring. Producers that reserve from now on
  // see the failure and pad their records; claims in flight are abandoned.
  void drain_as_lost() noexcept {
    std::uint64_t written = 0, lost = 0;
    std::size_t end = 0;
    cursor c = batch_start_;
    for (; c.count != next_.count; ++c.count) {  // the batch: all committed
      const std::uint64_t s = q_.state(c.count);
      if (const std::size_t size = wire_size(c, s); size > 0) {
        end += size;
        ++(end <= batch_done_ ? written : lost);
      }
      c.at += ring::state_span(s);
    }
    for (F* f : frames_) f->~F();
    frames_.clear();
    gather_.clear();
    for (;;) {
      if (ring::pack_position(c.count, c.at) == q_.tail()) break;
      const std::uint64_t s = q_.state(c.count);
      const bool mine = ring::state_count(s) == (c.count & ring::kCountMask);
      if (mine && ring::state_kind(s) == ring::kClaimed) {
        q_.abandon(c.count, s);  // its commit now fails; or it just committed: look again
        continue;
      }
      if (!mine) {
        std::this_thread::yield();  // a producer between reservation and commit
        continue;
      }
      if (ring::state_kind(s) == ring::kData) ++lost;
      if (ring::state_kind(s) == ring::kFrame) {
        ++lost;
        q_.frame_at(c.at, ring::state_wraps(s))->~F();
      }
      ++c.count;
      c.at += ring::state_span(s);
    }
    next_ = c;
    batch_start_ = c;
    batch_done_ = 0;
    w_.bump(w_.frames_written, written);
    w_.bump(w_.frames_lost, lost);
    q_.release(c.count, c.at);
    w_.wake_everyone();
  }

  writer_shared<Q, B>& w_;
  Q& q_;
  S sink_;
  Bt batcher_;
  cursor next_;         // the first record not in a batch yet
  cursor batch_start_;  // the first record of the batch being written
  std::size_t batch_done_ = 0;
  // The claim next in line, and when the writer first saw it waiting.
  std::uint64_t claim_count_ = ~std::uint64_t{0};
  absl::Time claim_seen_ = absl::InfinitePast();
  std::vector<const_buffer> gather_;
  std::vector<F*> frames_;  // the batch's by-reference frames, destroyed on publish

  // The Observer and its per-batch timing; empty for no_observer.
  [[no_unique_address]] batch_observation<O> observation_;
};

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_RING_DRAIN_LOOP_H_
