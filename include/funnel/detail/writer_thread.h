// funnel/detail/writer_thread.h
// -----------------------------------------------------------------------------
// INTERNAL: do not rely on anything in funnel/detail; it may change at any time.
//
// `run_writer_thread(w, sink, loop, drain_as_lost)`: the frame of the writer
// thread's body, shared by both writer loops (drain_loop.h over frame queues,
// ring_drain_loop.h over byte queues). It marks the writer started, runs
// `loop()` (true: closed and drained; false: failed), turns anything a policy
// throws into a failure with Internal naming what(), runs `drain_as_lost()`
// after a failure, then the sink's stop hook and, as the thread's last act,
// `finished`. The thread survives whatever a policy does.
//
// Thread-safety: the writer thread only. Allocation: none (error statuses aside).
#ifndef FUNNEL_DETAIL_WRITER_THREAD_H_
#define FUNNEL_DETAIL_WRITER_THREAD_H_

#include <atomic>
#include <exception>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "funnel/concepts.h"
#include "funnel/detail/process.h"

namespace funnel::detail {

template <class Shared, class S, class Loop, class DrainAsLost>
void run_writer_thread(Shared& w, S& sink, Loop&& loop, DrainAsLost&& drain_as_lost) noexcept {
  current_writer = &w;  // close()/flush() from a hook on this thread must not wait (process.h)
  {
    absl::MutexLock lock(&w.mu);
    w.started = true;
  }
  bool clean = false;
  try {
    clean = loop();
  } catch (const std::exception& e) {
    w.fail(absl::InternalError(absl::StrCat("a policy threw on the writer thread: ", e.what())));
  } catch (...) {
    w.fail(absl::InternalError(
        "a policy threw on the writer thread: an exception not derived from std::exception"));
  }
  if (!clean) drain_as_lost();
  if constexpr (sink_with_thread_stop<S>) {
    try {
      sink.on_writer_thread_stop();
    } catch (...) {  // documented: ignored; every frame is accounted for already
    }
  }
  // The writer is not open any more: a producer still between the handshake
  // and the count of a dropped frame (a few instructions, drop policies
  // only) finishes before the counters become final (detail/overflow.h).
  // seq_cst: the writer half of that handshake.
  while (w.dropping.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  current_writer = nullptr;
  // Release: whoever sees `finished` sees every counter and state above.
  w.finished.store(true, std::memory_order_release);
  w.progress.notify_all();
}

}  // namespace funnel::detail

#endif  // FUNNEL_DETAIL_WRITER_THREAD_H_
