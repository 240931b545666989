// funnel/testing/fault_sink.h
// -----------------------------------------------------------------------------
// `fault_injecting_sink<Inner>`: wraps any Sink and, following a script,
// answers the writer the way a troubled fd would: short writes, a hard error,
// a peer that goes away after N bytes. The bytes the writer gets to write go
// on to `Inner` (a memory_sink to read them back, a posix_writev_sink, ...),
// so a test can check that whatever the faults, the stream is byte-identical
// and every accepted frame is written or counted as lost.
//
//   memory_sink mem;
//   auto bytes_out = mem.buffer();
//   fault_injecting_sink sink(std::move(mem), {fault::fail_after_bytes(
//                                                  100, absl::UnavailableError("peer gone")),
//                                              fault::random_short_writes(/*seed=*/7, 5)});
//   auto faults = sink.state();
//   writer w(std::move(sink));
//
// What it injects, and what not. Only what may legally cross the Sink
// boundary (funnel/concepts.h): a short count (>= 1) and an error status.
// EINTR and EAGAIN never cross it (a sink retries or waits, or turns them into
// an error), so this wrapper has nothing to inject for them, and a sink that
// returned 0 would break the contract. To test a custom sink's own EINTR /
// EAGAIN handling, inject them below the sink, at the system call:
// funnel/testing/fault_writev.h.
//
// The script. Each write() call reads the script on from where the previous
// call stopped: it applies every *setting* it meets and stops at the first
// *call step*, which is its own.
//   call steps (one write call each):
//     fault::pass()            forward the call unchanged;
//     fault::short_write(k)    offer Inner at most the first k bytes (k >= 1);
//     fault::fail(status)      answer `status` without calling Inner; every
//                              later call fails the same way (a dead fd).
//   settings (take effect where read, use no call):
//     fault::fail_after_bytes(n, status)
//                              from here on Inner may take n more bytes: the
//                              call that would cross n is cut short at
//                              exactly n, the next call fails as fail(status);
//     fault::short_writes(k)   every call without a step of its own (that
//                              is, every call once the script is used up)
//                              offers at most k bytes;
//     fault::random_short_writes(seed, k)
//                              ... at most r bytes, r uniform in [1, k], drawn
//                              from std::mt19937_64(seed): the same seed gives
//                              the same splits on every platform.
//   With no setting, a call past the end of the script passes unchanged.
//
// Optional hooks: flush(), on_writer_thread_start(), on_writer_thread_stop()
// and cancel() are forwarded when
// Inner has them (and only then, so the writer's behaviour is Inner's).
//
// Inspection: `state()` is a shared `fault_sink_state` (counters, per-call
// sizes, waits) readable from any thread while the writer runs, like
// memory_sink_buffer.
//
// Cost: a mutex lock per call and, on a cut call, a copy of the gather list
// into a reused vector. Thread-safety: write() on the writer thread only; the
// state from any thread. Memory ordering: the state's absl::Mutex; a reader
// sees every call that completed before its read.
#ifndef FUNNEL_TESTING_FAULT_SINK_H_
#define FUNNEL_TESTING_FAULT_SINK_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/concepts.h"

namespace funnel::testing {

template <class Inner>
class fault_injecting_sink;

// One script entry; build it with the static functions.
class fault {
 public:
  // Call steps.
  static fault pass() { return fault(kind::pass, 0, 0, absl::OkStatus()); }
  static fault short_write(std::size_t max_bytes) {
    return fault(kind::short_write, std::max<std::size_t>(1, max_bytes), 0, absl::OkStatus());
  }
  static fault fail(absl::Status status) {
    return fault(kind::fail, 0, 0, checked(std::move(status), "fail"));
  }
  // Settings.
  static fault fail_after_bytes(std::uint64_t n, absl::Status status) {
    return fault(kind::fail_after_bytes, n, 0, checked(std::move(status), "fail_after_bytes"));
  }
  static fault short_writes(std::size_t max_bytes) {
    return fault(kind::short_writes, std::max<std::size_t>(1, max_bytes), 0, absl::OkStatus());
  }
  static fault random_short_writes(std::uint64_t seed, std::size_t max_bytes) {
    return fault(kind::random_short_writes, std::max<std::size_t>(1, max_bytes), seed,
                 absl::OkStatus());
  }

 private:
  friend class fault_sink_state;
  enum class kind { pass, short_write, fail, fail_after_bytes, short_writes, random_short_writes };

  fault(kind k, std::uint64_t n, std::uint64_t seed, absl::Status status)
      : kind_(k), n_(n), seed_(seed), status_(std::move(status)) {}

  // An injected failure must be an error; an OK one is a mistake in the test,
  // reported where it will be seen: by the writer, as its failure.
  static absl::Status checked(absl::Status s, const char* what) {
    if (!s.ok()) return s;
    return absl::InvalidArgumentError(
        absl::StrCat("funnel::testing::fault::", what, " was given an OK status"));
  }

  kind kind_;
  std::uint64_t n_;
  std::uint64_t seed_;
  absl::Status status_;
};

// What a fault_injecting_sink did, readable from any thread.
class fault_sink_state {
 public:
  // write() calls received, including failed ones.
  std::uint64_t write_calls() const {
    absl::MutexLock lock(&mu_);
    return write_calls_;
  }
  // Bytes Inner took, in total.
  std::uint64_t bytes_written() const {
    absl::MutexLock lock(&mu_);
    return bytes_written_;
  }
  // Calls on which Inner was offered less than the writer gave (cut short).
  std::uint64_t short_writes() const {
    absl::MutexLock lock(&mu_);
    return short_writes_;
  }
  // Calls answered with an injected error (Inner's own errors not included).
  std::uint64_t injected_failures() const {
    absl::MutexLock lock(&mu_);
    return injected_failures_;
  }
  std::uint64_t flush_calls() const {
    absl::MutexLock lock(&mu_);
    return flush_calls_;
  }
  // The byte count each successful call returned, in call order.
  std::vector<std::size_t> write_sizes() const {
    absl::MutexLock lock(&mu_);
    return write_sizes_;
  }
  // Script entries not read yet.
  std::size_t script_remaining() const {
    absl::MutexLock lock(&mu_);
    return script_.size() - next_;
  }
  // Block until at least `n` write calls / bytes have happened, or `deadline`
  // passes; return whether they did. For tests that must not sleep-and-hope.
  bool await_write_calls(std::uint64_t n, absl::Time deadline) const {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return write_calls_ >= n; };
    return mu_.AwaitWithDeadline(absl::Condition(&enough), deadline);
  }
  bool await_bytes(std::uint64_t n, absl::Time deadline) const {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return bytes_written_ >= n; };
    return mu_.AwaitWithDeadline(absl::Condition(&enough), deadline);
  }

  explicit fault_sink_state(std::vector<fault> script) : script_(std::move(script)) {}

 private:
  template <class>
  friend class fault_injecting_sink;

  // What to do with one call that was offered `offered` bytes: fail with
  // `status`, or offer Inner the first `limit` bytes.
  struct decision {
    absl::Status status;
    std::size_t limit = 0;
  };

  decision next(std::size_t offered) {
    absl::MutexLock lock(&mu_);
    ++write_calls_;
    if (!failure_.ok()) return injected(failure_);
    std::optional<fault> step;
    while (next_ < script_.size() && !step) {
      fault& f = script_[next_++];
      switch (f.kind_) {
        case fault::kind::pass:
        case fault::kind::short_write:
        case fault::kind::fail:
          step = f;
          break;
        case fault::kind::fail_after_bytes:
          budget_ = f.n_;
          budget_status_ = f.status_;
          break;
        case fault::kind::short_writes:
          shaping_ = f;
          break;
        case fault::kind::random_short_writes:
          shaping_ = f;
          rng_.seed(f.seed_);
          break;
      }
    }
    if (budget_ && *budget_ == 0) {
      failure_ = budget_status_;
      return injected(failure_);
    }
    std::size_t limit = offered;
    const fault* shape = step ? &*step : (shaping_ ? &*shaping_ : nullptr);
    if (shape != nullptr) {
      switch (shape->kind_) {
        case fault::kind::fail:
          failure_ = shape->status_;
          return injected(failure_);
        case fault::kind::short_write:
        case fault::kind::short_writes:
          limit = std::min<std::uint64_t>(limit, shape->n_);
          break;
        case fault::kind::random_short_writes:
          // The engine's output is fixed by the standard; a distribution's
          // is not, hence the modulo (its bias does not matter here).
          limit = std::min<std::uint64_t>(limit, 1 + rng_() % shape->n_);
          break;
        default:
          break;
      }
    }
    if (budget_) limit = std::min<std::uint64_t>(limit, *budget_);
    if (limit < offered) ++short_writes_;
    return {absl::OkStatus(), limit};
  }

  void record(const absl::StatusOr<std::size_t>& n) {
    absl::MutexLock lock(&mu_);
    if (!n.ok()) return;
    bytes_written_ += *n;
    write_sizes_.push_back(*n);
    if (budget_) *budget_ -= std::min<std::uint64_t>(*budget_, *n);
  }

  void count_flush() {
    absl::MutexLock lock(&mu_);
    ++flush_calls_;
  }

  decision injected(const absl::Status& s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++injected_failures_;
    return {s, 0};
  }

  mutable absl::Mutex mu_;
  std::vector<fault> script_ ABSL_GUARDED_BY(mu_);
  std::size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<fault> shaping_ ABSL_GUARDED_BY(mu_);  // short_writes / random_short_writes
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  std::optional<std::uint64_t> budget_ ABSL_GUARDED_BY(mu_);  // bytes left (fail_after_bytes)
  absl::Status budget_status_ ABSL_GUARDED_BY(mu_);
  absl::Status failure_ ABSL_GUARDED_BY(mu_);  // sticky, once failed

  std::uint64_t write_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t bytes_written_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t short_writes_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t injected_failures_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t flush_calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::size_t> write_sizes_ ABSL_GUARDED_BY(mu_);
};

template <class Inner>
class fault_injecting_sink {
  static_assert(sink<Inner>, "funnel: fault_injecting_sink<Inner> needs Inner to model Sink");

 public:
  // With an empty script every call passes (the wrapper only counts).
  explicit fault_injecting_sink(Inner inner, std::vector<fault> script = {})
      : inner_(std::move(inner)), state_(std::make_shared<fault_sink_state>(std::move(script))) {}

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    const std::size_t offered = total_size(buffers);
    fault_sink_state::decision d = state_->next(offered);
    if (!d.status.ok()) return d.status;
    absl::StatusOr<std::size_t> n =
        inner_.write(d.limit < offered ? cut(buffers, d.limit) : buffers);
    state_->record(n);
    return n;
  }

  absl::Status flush() requires flushable_sink<Inner> {
    state_->count_flush();
    return inner_.flush();
  }

  void on_writer_thread_stop() requires sink_with_thread_stop<Inner> {
    inner_.on_writer_thread_stop();
  }
  void cancel() noexcept requires cancellable_sink<Inner> { inner_.cancel(); }
  absl::Status status() const requires sink_with_status<Inner> { return inner_.status(); }
  void on_writer_thread_start() requires sink_with_thread_start<Inner> {
    inner_.on_writer_thread_start();
  }

  // Keep it to inspect the sink after it has been moved into a writer.
  std::shared_ptr<const fault_sink_state> state() const { return state_; }
  Inner& inner() noexcept { return inner_; }
  const Inner& inner() const noexcept { return inner_; }

 private:
  // The first `limit` bytes of `buffers` (0 < limit < total), in cut_.
  std::span<const const_buffer> cut(std::span<const const_buffer> buffers, std::size_t limit) {
    cut_.clear();
    for (const const_buffer& b : buffers) {
      const std::size_t take = std::min(limit, b.size);
      cut_.push_back({b.data, take});
      limit -= take;
      if (limit == 0) break;
    }
    return cut_;
  }

  Inner inner_;
  std::shared_ptr<fault_sink_state> state_;
  std::vector<const_buffer> cut_;
};

}  // namespace funnel::testing

#endif  // FUNNEL_TESTING_FAULT_SINK_H_
