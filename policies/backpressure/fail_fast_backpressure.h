// funnel/policies/backpressure/fail_fast_backpressure.h
// -----------------------------------------------------------------------------
// `fail_fast_backpressure`: never waits. wait() asks `ready()` exactly once
// and returns its answer, whatever the deadline. This deliberately bends the
// Backpressure contract (which keeps calling `ready()` until the deadline):
// every deadline is treated as already passed.
//
// Trade-off, in one sentence: a producer never blocks and the writer never
// pays for a wake-up, but every send that meets the bound fails at once and
// the retry (or the drop) is the caller's business.
//
// What send() returns with it: basic_writer treats a false wait() as a
// timeout, so a send() that meets the pending bound returns
// DeadlineExceeded at once, with the usual "backpressure: still N frames /
// B bytes pending ... after waiting <backpressure_timeout>" message (the
// duration named is the configured timeout, not time spent: none is), counts
// a backpressure wait and a backpressure timeout in writer_stats, and leaves
// the frame untouched for a retry. try_send() is unchanged (ResourceExhausted
// without consulting the policy). Use this policy when code written against
// send() must never block (spdlog's `discard_new`); use try_send() when you
// can choose the call.
//
// When to use: producers that must never block (real-time threads, signal
// or event-loop callbacks) and that prefer shedding load to waiting.
// When not to use: when frames must not be dropped: every full-bound send
// becomes an error the caller has to retry, i.e. a spin in the caller.
//
// Cost on the hot path: one `ready()` call when admission failed; notify()
// is empty.
// Thread-safety: stateless; wait() and notify() from any thread.
// Memory ordering: none of its own; `ready()` does the synchronisation.
// Blocking: never. Allocation: none.
#ifndef FUNNEL_POLICIES_BACKPRESSURE_FAIL_FAST_BACKPRESSURE_H_
#define FUNNEL_POLICIES_BACKPRESSURE_FAIL_FAST_BACKPRESSURE_H_

#include "absl/functional/function_ref.h"
#include "absl/time/time.h"

namespace funnel {

class fail_fast_backpressure {
 public:
  // The deadline is ignored: one look, no wait.
  bool wait(absl::FunctionRef<bool()> ready, absl::Time /*deadline*/) const { return ready(); }

  void notify() const noexcept {}
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_BACKPRESSURE_FAIL_FAST_BACKPRESSURE_H_
