// funnel/detail/failure_drain.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// `drain_as_lost(...)`: what the writer thread does once the writer has
// failed (fail() stored kFailed, so no producer is admitted any more): count
// every frame accepted but not completely written (in the batch, carried
// over, queued, or pushed by a producer while we stop) and give its budget
// back, then wake everyone. Frames of the batch whose last byte the sink took
// count as written. Afterwards accepted == written + lost.
//
// Thread-safety: the writer thread only. Blocking: yields while a producer is
// between taking budget and pushing (a few instructions). Allocation: none.
#ifndef FUNNEL_DETAIL_FAILURE_DRAIN_H_
#define FUNNEL_DETAIL_FAILURE_DRAIN_H_

#include <cstddef>
#include <cstdint>
#include <thread>
#include <vector>

#include "funnel/detail/writer_shared.h"

namespace funnel::detail {

// `batch`: the batch being written, of which the sink took `batch_done`
// bytes; `carried`: a frame taken from the queue for the next batch, or null.
template <class Q, class B>
void drain_as_lost(writer_shared<Q, B>& w, std::vector<typename Q::value_type>& batch,
                   std::size_t batch_done, typename Q::value_type* carried) noexcept {
  using F = typename Q::value_type;
  std::uint64_t written = 0, lost = 0;
  std::size_t frames = 0, bytes = 0, end = 0;
  for (const F& f : batch) {
    if (!f.valid()) continue;  // a slot a throwing pop left empty
    ++frames;
    bytes += f.size();
    end += f.size();
    ++(end <= batch_done ? written : lost);
  }
  batch.clear();
  w.budget.release(frames, bytes);
  w.bump(w.frames_written, written);
  if (carried != nullptr) {
    ++lost;
    w.budget.release(1, carried->size());
    *carried = F();
  }
  F f;
  for (;;) {
    while (w.queue.try_pop(f)) {
      if (!f.valid()) continue;  // an express wake token (express_lane.h), not a frame
      ++lost;
      w.budget.release(1, f.size());
      f = F();
    }
    if (w.budget.frames() == 0) break;
    std::this_thread::yield();  // a producer is between budget and push
  }
  w.bump(w.frames_lost, lost);
  w.wake_everyone();
}

// The same for the express lane (express_lane.h): `batch` is the express
// batch being written, of which the sink took `batch_done` bytes; then every
// frame still in the lane, until no producer holds a slot. Call it before
// drain_as_lost(), which wakes everyone.
template <class Q, class B>
void drain_express_as_lost(writer_shared<Q, B>& w, std::vector<typename Q::value_type>& batch,
                           std::size_t batch_done) noexcept {
  using F = typename Q::value_type;
  std::uint64_t written = 0, lost = 0;
  std::size_t end = 0;
  for (const F& f : batch) {
    end += f.size();
    ++(end <= batch_done ? written : lost);
  }
  w.express.release(batch.size());
  batch.clear();
  for (;;) {
    // No allocation: batch has express_capacity reserved (drain_loop.h).
    const std::size_t n = w.express.take_all(batch);
    batch.clear();
    lost += n;
    w.express.release(n);
    if (w.express.pending() == 0) break;
    std::this_thread::yield();  // a producer is between its slot and its push
  }
  w.bump(w.frames_written, written);
  w.bump(w.express_frames, written);
  w.bump(w.frames_lost, lost);
}

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_FAILURE_DRAIN_H_
