// fuzz/gated_queue.h
// -----------------------------------------------------------------------------
// `gated_queue<Inner>`: a Queue policy that wraps any funnel Queue and lets a
// test decide *when* the writer thread may take frames, so that a fuzz
// iteration is deterministic although the writer runs on its own thread.
//
//   auto gate = std::make_shared<queue_gate>();
//   queue_gate::scoped_install install(gate);   // the next gated_queue built
//   writer w(sink, options);                    // on this thread uses `gate`
//   h.try_send(a); h.try_send(b);               // queued, invisible to the writer
//   gate->release();                            // the writer may pop a and b
//   w.flush();                                  // ... and has written them
//
// Frames pushed since the last release() are held back: try_pop says "empty"
// and pop_wait sleeps, although the inner queue has them. release() hands the
// writer exactly as many credits as frames were pushed, all at once, so every
// batch the writer assembles is the one the Batcher makes of those frames,
// not whatever a race happened to leave in the queue. close() (the writer's
// shutdown, a sink failure) lifts the gate for good, so the writer can drain.
//
// The writer constructs its Queue itself, from a capacity, so the gate is
// handed over through a thread-local slot (`scoped_install`) read by the
// constructor; with nothing installed the gate is open (a plain Inner).
//
// When to use: deterministic tests and fuzz targets of the writer. When not
// to use: anything else; the gate costs a mutex per pop.
//
// Thread-safety: as Inner (many producers, one consumer); the gate's methods
// from any thread. Memory ordering: the gate's absl::Mutex. A frame whose push
// returned before release() was called is visible to the writer after it.
#ifndef FUNNEL_FUZZ_GATED_QUEUE_H_
#define FUNNEL_FUZZ_GATED_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace funnel::fuzzing {

class queue_gate {
 public:
  // Lets the writer pop every frame pushed so far.
  void release() {
    absl::MutexLock lock(&mu_);
    credits_ += pushed_;
    pushed_ = 0;
  }
  // Frames pushed and not yet released.
  std::uint64_t held() const {
    absl::MutexLock lock(&mu_);
    return pushed_;
  }

  // Installs `gate` for the gated_queue constructed next on this thread.
  class scoped_install {
   public:
    explicit scoped_install(std::shared_ptr<queue_gate> gate) { slot() = std::move(gate); }
    ~scoped_install() { slot().reset(); }
    scoped_install(const scoped_install&) = delete;
    scoped_install& operator=(const scoped_install&) = delete;
  };

 private:
  template <class>
  friend class gated_queue;

  static std::shared_ptr<queue_gate>& slot() {
    thread_local std::shared_ptr<queue_gate> installed;
    return installed;
  }
  static std::shared_ptr<queue_gate> take_installed() {
    std::shared_ptr<queue_gate> g = std::move(slot());
    if (!g) {
      g = std::make_shared<queue_gate>();
      g->close();  // nothing installed: an open gate
    }
    return g;
  }

  void pushed() {
    absl::MutexLock lock(&mu_);
    ++pushed_;
  }
  void close() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }
  // Waits until a frame may be popped (a credit, or the gate is lifted) or
  // `deadline` passes; false on the deadline.
  bool await_credit(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto may_pop = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return closed_ || credits_ > 0; };
    return mu_.AwaitWithDeadline(absl::Condition(&may_pop), deadline);
  }
  bool has_credit() const {
    absl::MutexLock lock(&mu_);
    return closed_ || credits_ > 0;
  }
  void spend_credit() {
    absl::MutexLock lock(&mu_);
    if (!closed_ && credits_ > 0) --credits_;
  }

  mutable absl::Mutex mu_;
  std::uint64_t pushed_ ABSL_GUARDED_BY(mu_) = 0;   // held back
  std::uint64_t credits_ ABSL_GUARDED_BY(mu_) = 0;  // released, not popped yet
  bool closed_ ABSL_GUARDED_BY(mu_) = false;        // gate lifted for good
};

template <class Inner>
class gated_queue {
 public:
  using value_type = typename Inner::value_type;
  explicit gated_queue(std::size_t capacity)
      : inner_(capacity), gate_(queue_gate::take_installed()) {}

  bool try_push(value_type& f) {
    if (!inner_.try_push(f)) return false;
    gate_->pushed();
    return true;
  }

  // Only the writer pops, so a credit seen here is still there when spent.
  bool try_pop(value_type& f) {
    if (!gate_->has_credit() || !inner_.try_pop(f)) return false;
    gate_->spend_credit();
    return true;
  }

  bool pop_wait(value_type& f, absl::Time deadline) {
    if (!gate_->await_credit(deadline)) return false;
    // A credit stands for a frame whose push has returned: the inner queue
    // has it. After close(), the inner queue decides (drain, then false).
    if (!inner_.pop_wait(f, deadline)) return false;
    gate_->spend_credit();
    return true;
  }

  void close() {
    gate_->close();
    inner_.close();
  }

  std::size_t capacity() const { return inner_.capacity(); }

 private:
  Inner inner_;
  std::shared_ptr<queue_gate> gate_;
};

}  // namespace funnel::fuzzing

#endif  // FUNNEL_FUZZ_GATED_QUEUE_H_
