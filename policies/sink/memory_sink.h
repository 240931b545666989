// funnel/policies/sink/memory_sink.h
// -----------------------------------------------------------------------------
// `memory_sink`: appends every write to an in-memory buffer that outlives the
// sink, so a test or an example can read back exactly the bytes a writer
// produced.
//
// When to use: tests, examples, benchmarks of everything but the system call.
// When not to use: production (the buffer grows without bound).
//
// Short writes on purpose: `max_bytes_per_write` caps how much one write()
// call takes, so the writer's partial-write resumption can be exercised with
// every split point (1 byte per call, 2, ...).
//
// Thread-safety: write() is called by the writer thread; the shared
// `memory_sink_buffer` may be read from any thread at the same time (it has
// its own mutex).
// Memory ordering: the buffer's absl::Mutex; a read sees every write that
// completed before it.
// Blocking: only on that mutex. Allocation: the buffer grows (amortised).
#ifndef FUNNEL_POLICIES_SINK_MEMORY_SINK_H_
#define FUNNEL_POLICIES_SINK_MEMORY_SINK_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"

namespace funnel {

// The bytes a memory_sink received; shared between the sink and its readers.
class memory_sink_buffer {
 public:
  std::string contents() const {
    absl::MutexLock lock(&mu_);
    return data_;
  }
  std::size_t size() const {
    absl::MutexLock lock(&mu_);
    return data_.size();
  }
  std::uint64_t write_calls() const {
    absl::MutexLock lock(&mu_);
    return write_calls_;
  }
  // Blocks until at least `n` bytes have arrived or `deadline` passes;
  // returns whether they arrived. For tests that must not sleep-and-hope.
  bool await_size(std::size_t n, absl::Time deadline) const {
    absl::MutexLock lock(&mu_);
    auto enough = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return data_.size() >= n; };
    return mu_.AwaitWithDeadline(absl::Condition(&enough), deadline);
  }

 private:
  friend class memory_sink;
  void append(std::span<const const_buffer> buffers, std::size_t limit) {
    absl::MutexLock lock(&mu_);
    ++write_calls_;
    for (const const_buffer& b : buffers) {
      const std::size_t take = std::min(limit, b.size);
      data_.append(reinterpret_cast<const char*>(b.data), take);
      limit -= take;
      if (limit == 0) break;
    }
  }

  mutable absl::Mutex mu_;
  std::string data_ ABSL_GUARDED_BY(mu_);
  std::uint64_t write_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

class memory_sink {
 public:
  struct options {
    // At most this many bytes per write() call (>= 1).
    std::size_t max_bytes_per_write = std::numeric_limits<std::size_t>::max();
  };

  memory_sink() : memory_sink(options{}) {}
  explicit memory_sink(options o)
      : buffer_(std::make_shared<memory_sink_buffer>()),
        max_bytes_per_write_(std::max<std::size_t>(1, o.max_bytes_per_write)) {}

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    const std::size_t n = std::min(max_bytes_per_write_, total_size(buffers));
    buffer_->append(buffers, n);
    return n;
  }

  // The buffer; keep it to read what was written after the sink has been
  // moved into a writer.
  std::shared_ptr<const memory_sink_buffer> buffer() const { return buffer_; }

 private:
  std::shared_ptr<memory_sink_buffer> buffer_;
  std::size_t max_bytes_per_write_;
};

}  // namespace funnel

#endif  // FUNNEL_POLICIES_SINK_MEMORY_SINK_H_
