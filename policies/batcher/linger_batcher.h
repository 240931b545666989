// funnel/policies/batcher/linger_batcher.h
// -----------------------------------------------------------------------------
// `linger_batcher`: like count_batcher (up to N frames), but when the queue
// runs dry while the batch holds fewer than `small` frames, the writer waits
// up to T for more before writing (Kafka's linger.ms, Nagle's idea with a
// hard bound). The default T = 0 never waits, i.e. it is count_batcher.
// That is `lingering<count_batcher>` (funnel/policies/batcher/lingering.h)
// under its own name, with an options struct; to cap bytes or coalesce as
// well, compose: lingering<byte_batcher>, coalescing<lingering<byte_batcher>>.
//
// When to use: producers that trickle frames one at a time, where a
// system call per frame costs more than T of added latency.
// When not to use: latency-sensitive traffic (every lone frame waits T);
// bursty producers (batches fill up by themselves).
//
// Cost on the hot path: none while frames are ready. When the queue runs dry
// with a small batch: one clock read and a timed wait in the queue.
// Thread-safety: immutable after construction; called from the writer thread.
// Memory ordering: none. Blocking: makes the writer wait up to T in
// Queue::pop_wait (woken at once by the next frame). Allocation: none.
#ifndef FUNNEL_POLICIES_BATCHER_LINGER_BATCHER_H_
#define FUNNEL_POLICIES_BATCHER_LINGER_BATCHER_H_

#include <cstddef>

#include "absl/time/time.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/batcher/lingering.h"

namespace funnel {

class linger_batcher : public lingering<count_batcher> {
 public:
  struct options {
    std::size_t max_frames = 64;              // a batch never holds more (0 is taken as 1)
    std::size_t small = kDefaultLingerSmall;  // linger only while the batch holds fewer (64)
    absl::Duration linger = absl::ZeroDuration();
  };

  linger_batcher() = default;
  explicit linger_batcher(options o)
      : lingering<count_batcher>(count_batcher(o.max_frames), o.linger, o.small) {}
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BATCHER_LINGER_BATCHER_H_
