// funnel/policies/observer/summary_observer.h
// -----------------------------------------------------------------------------
// `summary_observer`: an Observer (funnel/observer.h) that accumulates, per
// interval, the frames, bytes, batches, write calls and producer waits a
// writer reports, the deepest backlog, and a histogram of Sink::write call
// latency; another thread takes the interval's summary (and starts the next)
// with take_summary(), and format_summary() makes it one line of text:
//
//   funnel::summary_observer obs;                    // copies share one state
//   funnel::basic_writer<Q, S, B, Bt, funnel::summary_observer> w(sink, o, {}, {}, obs);
//   ...  // on a monitor thread, every 500 ms:
//   std::puts(funnel::format_summary(obs.take_summary(), w.stats().frames_dropped).c_str());
//
// When to use: a periodic health line or metrics export for a long-running
// writer (rates, p50/p99 write latency, producer waits). When not to: exact
// totals (read writer.stats(), which stays exact either way), or per-call
// latency with better than 2x resolution (write your own observer).
//
// Latency histogram: 48 fixed buckets, bucket i holding [2^i, 2^(i+1)) ns
// (bucket 0: under 2 ns; the last: everything from 2^47 ns, ~39 h, up).
// Percentiles are reported as the upper bound of their bucket, capped at the
// interval's longest call: never below the true value, at most 2x above it.
// A batch reports the sum and the maximum of its write calls, not each call:
// the histogram holds the longest call, and for a batch of n > 1 calls, n - 1
// calls at the mean of the others (exact for batches of one or two calls,
// the common case; more come only from partial writes).
//
// Thread-safety: copies (moves copy too) share one state, guarded by one
// absl::Mutex. on_batch() runs on the writer thread; take_summary() on any
// thread, concurrently. The mutex's release/acquire makes every report
// recorded before take_summary() takes the lock visible to it.
//
// Blocking: on_batch() takes the mutex once per batch: uncontended, one
// atomic exchange and one release store; it waits only while a
// take_summary() copies the counts out (a few hundred bytes).
//
// Allocation: the shared state, once, at construction; nothing per batch.
// format_summary() builds a std::string (on the monitor's thread).
//
// Cost on the writer: the Observer's (two steady-clock reads per write call,
// see funnel/observer.h), plus the lock and ~10 additions per batch.
#ifndef FUNNEL_POLICIES_OBSERVER_SUMMARY_OBSERVER_H_
#define FUNNEL_POLICIES_OBSERVER_SUMMARY_OBSERVER_H_

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/observer.h"

namespace funnel {

// One interval of a summary_observer, as take_summary() returns it.
struct observer_summary {
  absl::Duration interval = absl::ZeroDuration();  // since the previous take_summary()
  std::uint64_t frames = 0;
  std::uint64_t bytes = 0;
  std::uint64_t batches = 0;
  std::uint64_t write_calls = 0;
  std::uint64_t producer_waits = 0;                      // sends that had to wait for budget
  std::uint64_t max_queue_depth = 0;                     // deepest backlog behind a batch
  absl::Duration write_time = absl::ZeroDuration();      // all write calls together
  absl::Duration max_write_call = absl::ZeroDuration();  // the longest one
  absl::Duration p50_write_call = absl::ZeroDuration();  // upper bounds, see the header
  absl::Duration p99_write_call = absl::ZeroDuration();

  // Per second of `interval` (0 for an empty interval).
  double per_second(std::uint64_t n) const {
    const double s = absl::ToDoubleSeconds(interval);
    return s > 0 ? static_cast<double>(n) / s : 0.0;
  }
};

class summary_observer {
 public:
  static constexpr int kBuckets = 48;

  summary_observer() : state_(std::make_shared<state>()) {}
  // Copies share the state; no move constructor is declared, so a move copies
  // too and a moved-from observer keeps working.
  summary_observer(const summary_observer&) = default;
  summary_observer& operator=(const summary_observer&) = default;

  // Writer thread: adds one batch.
  void on_batch(const batch_report& r) {
    absl::MutexLock lock(&state_->mu);
    counts& c = state_->current;
    ++c.batches;
    c.frames += r.frames;
    c.bytes += r.bytes;
    c.write_calls += r.write_calls;
    c.producer_waits += r.producer_waits;
    c.max_queue_depth = std::max(c.max_queue_depth, r.queue_depth);
    c.write_time += r.write_time;
    c.max_write_call = std::max(c.max_write_call, r.max_write_call);
    if (r.write_calls == 0) return;
    ++c.histogram[bucket(r.max_write_call)];
    if (r.write_calls > 1) {
      const std::uint64_t rest = r.write_calls - 1;
      c.histogram[bucket((r.write_time - r.max_write_call) / static_cast<std::int64_t>(rest))] +=
          rest;
    }
  }

  // Any thread: the interval since the previous call (or construction), and
  // the start of the next one.
  observer_summary take_summary() {
    counts c;
    absl::Time since;
    const absl::Time now = absl::Now();
    {
      absl::MutexLock lock(&state_->mu);
      c = state_->current;
      state_->current = counts{};
      since = state_->since;
      state_->since = now;
    }
    observer_summary s;
    s.interval = now - since;
    s.frames = c.frames;
    s.bytes = c.bytes;
    s.batches = c.batches;
    s.write_calls = c.write_calls;
    s.producer_waits = c.producer_waits;
    s.max_queue_depth = c.max_queue_depth;
    s.write_time = c.write_time;
    s.max_write_call = c.max_write_call;
    s.p50_write_call = percentile(c, 0.50);
    s.p99_write_call = percentile(c, 0.99);
    return s;
  }

  // The bucket of a call of duration `d`: [2^i, 2^(i+1)) ns.
  static int bucket(absl::Duration d) noexcept {
    const std::int64_t ns = absl::ToInt64Nanoseconds(d);
    if (ns < 2) return 0;
    return std::min(kBuckets - 1,
                    static_cast<int>(std::bit_width(static_cast<std::uint64_t>(ns))) - 1);
  }

 private:
  struct counts {
    std::uint64_t frames = 0, bytes = 0, batches = 0, write_calls = 0, producer_waits = 0;
    std::uint64_t max_queue_depth = 0;
    absl::Duration write_time = absl::ZeroDuration();
    absl::Duration max_write_call = absl::ZeroDuration();
    std::array<std::uint64_t, kBuckets> histogram{};
  };
  struct state {
    absl::Mutex mu;
    counts current ABSL_GUARDED_BY(mu);
    absl::Time since ABSL_GUARDED_BY(mu) = absl::Now();
  };

  // The upper bound of the bucket holding the call of rank ceil(p * calls),
  // capped at the longest call.
  static absl::Duration percentile(const counts& c, double p) {
    std::uint64_t total = 0;
    for (std::uint64_t n : c.histogram) total += n;
    if (total == 0) return absl::ZeroDuration();
    std::uint64_t rank = static_cast<std::uint64_t>(p * static_cast<double>(total));
    if (static_cast<double>(rank) < p * static_cast<double>(total)) ++rank;  // ceil
    rank = std::max<std::uint64_t>(rank, 1);
    std::uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += c.histogram[i];
      if (seen >= rank) {
        return std::min(absl::Nanoseconds(std::int64_t{2} << i), c.max_write_call);
      }
    }
    return c.max_write_call;
  }

  std::shared_ptr<state> state_;
};

// One line: rates, write latency, waits, backlog and `drops` (frames the
// writer did not write, e.g. writer.stats().frames_lost), e.g.
//   "812.3k frames/s  52.0 MB/s  9.1k batches/s  write p50 8.2us p99 64us
//    max 210us  waits 0  depth 31  drops 0"   (one line)
inline std::string format_summary(const observer_summary& s, std::uint64_t drops) {
  auto rate = [](double v) {
    if (v >= 1e6) return absl::StrFormat("%.1fM", v / 1e6);
    if (v >= 1e3) return absl::StrFormat("%.1fk", v / 1e3);
    return absl::StrFormat("%.0f", v);
  };
  auto micros = [](absl::Duration d) {
    const double us = absl::ToDoubleMicroseconds(d);
    return us < 10 ? absl::StrFormat("%.1fus", us) : absl::StrFormat("%.0fus", us);
  };
  return absl::StrFormat(
      "%s frames/s  %.1f MB/s  %s batches/s  write p50 %s p99 %s max %s  waits %d  depth %d  "
      "drops %d",
      rate(s.per_second(s.frames)), s.per_second(s.bytes) / 1e6, rate(s.per_second(s.batches)),
      micros(s.p50_write_call), micros(s.p99_write_call), micros(s.max_write_call),
      s.producer_waits, s.max_queue_depth, drops);
}

}  // namespace funnel

#endif  // FUNNEL_POLICIES_OBSERVER_SUMMARY_OBSERVER_H_
