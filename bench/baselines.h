// bench/baselines.h
// -----------------------------------------------------------------------------
// The implementations funnel is measured against, all writing the same
// frames (bench/harness.h, "wire convention") into the same socket:
//
//   limit_writev   one thread, no queue, no frame objects: headers encoded
//                  before the clock starts, one writev of 2 iovecs per frame
//                  per 64-frame batch. What the kernel allows a gather writer.
//   limit_memcpy   as limit_writev, but the thread copies the 64 frames into
//                  one buffer and calls write() once per batch. What the
//                  kernel allows a copying writer.
//   limit_bigcopy  as limit_memcpy, but the one buffer (allocated before the
//                  clock starts) holds as many whole frames as fit in
//                  256 KiB, at least one, and write() is called once per
//                  buffer filled: far fewer calls than once per 64 frames
//                  when frames are small. What the kernel allows a copying
//                  writer that batches by bytes.
//   mutex_direct   no writer thread: each producer builds its frame, takes a
//                  std::mutex and writevs that one frame itself.
//   naive_writer   the textbook writer thread: std::mutex + std::deque +
//                  std::condition_variable, bounded at 1024 queued frames,
//                  pops up to 64 under the lock, writev. (What a careful
//                  engineer writes in an afternoon; the Rust seed is its
//                  async cousin.)
//
// The LIMITs interleave the producers' frames round-robin, so the stream is
// what `producers` threads would send and the verifier accepts it; they do
// no per-frame work beyond filling the gather list (or the memcpy). The
// copying LIMITs write whole frames per call and resume a short write at the
// exact byte (write_all).
//
// All of them report each write call to an Observer (no_observer or
// latency_probe, see harness.h) with the gather list it was offered and the
// count it returned.
#ifndef FUNNEL_BENCH_BASELINES_H_
#define FUNNEL_BENCH_BASELINES_H_

#include <limits.h>   // IOV_MAX
#include <sys/uio.h>  // writev
#include <unistd.h>   // write

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <span>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "bench/harness.h"
#include "funnel/procwire/frame.h"

namespace funnel_bench {

inline constexpr std::size_t kBatchFrames = 64;  // the seed's MAX_BATCH_SIZE

// Writes all of iov[0, count) to `fd`, resuming a short write at the exact
// byte; at most IOV_MAX ranges per call. Counts calls in `calls`.
template <class Observer>
absl::Status write_all(int fd, iovec* iov, std::size_t count, Observer& observer,
                       std::uint64_t& calls) {
  while (count > 0) {
    const std::size_t offered = std::min<std::size_t>(count, IOV_MAX);
    const ssize_t n = ::writev(fd, iov, static_cast<int>(offered));
    ++calls;
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      return absl::ErrnoToStatus(err, absl::StrCat("writev to fd ", fd));
    }
    auto left = static_cast<std::size_t>(n);
    observer.observe(std::span<const iovec>(iov, offered), left);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<std::byte*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return absl::OkStatus();
}

// Producer p's k-th frame in the LIMITs' round-robin order: frame i.
struct round_robin {
  int producers;
  int producer(std::uint64_t i) const {
    return static_cast<int>(i % static_cast<unsigned>(producers));
  }
  std::uint32_t seq(std::uint64_t i) const {
    return static_cast<std::uint32_t>(i / static_cast<unsigned>(producers));
  }
};

// Every frame's header, encoded before the clock starts.
inline std::vector<funnel::encoded_header> encode_all_headers(const bench_case& c) {
  const round_robin rr{c.producers};
  std::vector<funnel::encoded_header> headers(c.frames);
  for (std::uint64_t i = 0; i < c.frames; ++i) {
    headers[i] = funnel::encode_header(
        {method_of(rr.producer(i)), 0, rr.seq(i), static_cast<std::uint32_t>(c.payload)});
  }
  return headers;
}

// LIMIT-writev (see the file comment).
inline absl::Status limit_writev(const bench_case& c, int fd, start_gate& gate,
                                 const payload_set& payloads, cpu_account& cpu, run_stats& st) {
  const std::vector<funnel::encoded_header> headers = encode_all_headers(c);
  const round_robin rr{c.producers};
  std::vector<iovec> iov(2 * kBatchFrames);
  no_observer quiet;
  gate.open();
  const std::int64_t cpu0 = thread_cpu_ns();
  for (std::uint64_t first = 0; first < c.frames; first += kBatchFrames) {
    const std::uint64_t end = std::min<std::uint64_t>(first + kBatchFrames, c.frames);
    std::size_t n = 0;
    for (std::uint64_t i = first; i < end; ++i) {
      iov[n++] = {const_cast<std::byte*>(headers[i].data()), funnel::kHeaderSize};
      if (c.payload != 0) {
        iov[n++] = {const_cast<std::byte*>(payloads.pattern(rr.producer(i)).data()), c.payload};
      }
    }
    if (absl::Status s = write_all(fd, iov.data(), n, quiet, st.write_calls); !s.ok()) return s;
  }
  cpu.add(thread_cpu_ns() - cpu0);
  return absl::OkStatus();
}

// Copies one frame (its header, then its payload) to `out`; returns the end
// of what it wrote.
inline std::byte* copy_frame(std::byte* out, const funnel::encoded_header& header,
                             std::span<const std::byte> payload) {
  std::memcpy(out, header.data(), funnel::kHeaderSize);
  out += funnel::kHeaderSize;
  if (!payload.empty()) std::memcpy(out, payload.data(), payload.size());
  return out + payload.size();
}

// The copying LIMITs: copies `per_write` frames at a time into one buffer
// (allocated here, before the clock starts) and writes it with one call.
inline absl::Status copy_and_write(const bench_case& c, int fd, start_gate& gate,
                                   const payload_set& payloads, cpu_account& cpu, run_stats& st,
                                   std::uint64_t per_write) {
  const std::vector<funnel::encoded_header> headers = encode_all_headers(c);
  const round_robin rr{c.producers};
  std::vector<std::byte> staging(per_write * c.wire_size());
  no_observer quiet;
  gate.open();
  const std::int64_t cpu0 = thread_cpu_ns();
  for (std::uint64_t first = 0; first < c.frames; first += per_write) {
    const std::uint64_t end = std::min<std::uint64_t>(first + per_write, c.frames);
    std::byte* out = staging.data();
    for (std::uint64_t i = first; i < end; ++i) {
      out = copy_frame(out, headers[i], payloads.pattern(rr.producer(i)));
    }
    iovec one{staging.data(), static_cast<std::size_t>(out - staging.data())};
    if (absl::Status s = write_all(fd, &one, 1, quiet, st.write_calls); !s.ok()) return s;
  }
  cpu.add(thread_cpu_ns() - cpu0);
  return absl::OkStatus();
}

// LIMIT-memcpy (see the file comment).
inline absl::Status limit_memcpy(const bench_case& c, int fd, start_gate& gate,
                                 const payload_set& payloads, cpu_account& cpu, run_stats& st) {
  return copy_and_write(c, fd, gate, payloads, cpu, st, kBatchFrames);
}

// LIMIT-bigcopy's bytes per write call (whole frames, so up to this many).
inline constexpr std::size_t kBigWriteBytes = 256 * 1024;

// LIMIT-bigcopy (see the file comment): as many whole frames per write as
// fit in kBigWriteBytes, and at least one.
inline absl::Status limit_bigcopy(const bench_case& c, int fd, start_gate& gate,
                                  const payload_set& payloads, cpu_account& cpu, run_stats& st) {
  const std::uint64_t per_write = std::max<std::uint64_t>(1, kBigWriteBytes / c.wire_size());
  return copy_and_write(c, fd, gate, payloads, cpu, st, per_write);
}

// mutex baseline: producers write their own frames under one std::mutex.
struct mutex_direct {
  template <class Observer, class Body>
  static absl::Status run(int fd, int producers, start_gate& gate, Observer& observer,
                          const Body& body, run_stats& st) {
    struct shared {
      std::mutex mu;
      std::uint64_t calls = 0;
    } sh;
    struct sender {
      int fd;
      shared* sh;
      Observer* observer;
      absl::Status send(funnel::outbound_frame&& f) {
        iovec iov[2] = {{const_cast<std::byte*>(f.encoded().data()), funnel::kHeaderSize},
                        {const_cast<std::byte*>(f.payload().data()), f.payload().size()}};
        std::lock_guard<std::mutex> lock(sh->mu);
        return write_all(fd, iov, f.payload().empty() ? 1 : 2, *observer, sh->calls);
      }
    };
    absl::Status s = run_producers(producers, gate, body, [&] {
      return sender{fd, &sh, &observer};
    });
    st.write_calls = sh.calls;
    return s;
  }
};

// naive writer thread (see the file comment).
template <class Observer>
class naive_writer {
 public:
  static constexpr std::size_t kMaxQueued = 1024;

  naive_writer(int fd, Observer& observer)
      : fd_(fd), observer_(observer), thread_([this] { loop(); }) {}
  naive_writer(const naive_writer&) = delete;
  naive_writer& operator=(const naive_writer&) = delete;
  ~naive_writer() { (void)close(); }

  absl::Status send(funnel::outbound_frame&& f) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return queue_.size() < kMaxQueued || stopped_; });
    if (stopped_) return absl::FailedPreconditionError("naive writer stopped");
    queue_.push_back(std::move(f));
    not_empty_.notify_one();
    return absl::OkStatus();
  }

  // Writes what is queued, joins the thread, reports the first write error.
  absl::Status close() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      closing_ = true;
    }
    not_empty_.notify_one();
    if (thread_.joinable()) thread_.join();
    return status_;
  }

  std::uint64_t write_calls() const noexcept { return calls_; }  // after close()

 private:
  void loop() {
    std::vector<funnel::outbound_frame> batch;
    std::vector<iovec> iov;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        not_empty_.wait(lock, [&] { return !queue_.empty() || closing_; });
        if (queue_.empty()) return;  // closing and drained
        while (!queue_.empty() && batch.size() < kBatchFrames) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      not_full_.notify_all();
      iov.clear();
      for (const funnel::outbound_frame& f : batch) {
        iov.push_back({const_cast<std::byte*>(f.encoded().data()), funnel::kHeaderSize});
        if (!f.payload().empty()) {
          iov.push_back({const_cast<std::byte*>(f.payload().data()), f.payload().size()});
        }
      }
      if (absl::Status s = write_all(fd_, iov.data(), iov.size(), observer_, calls_); !s.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        status_ = s;
        stopped_ = true;
        not_full_.notify_all();
        return;
      }
      batch.clear();
    }
  }

  const int fd_;
  Observer& observer_;
  std::mutex mu_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<funnel::outbound_frame> queue_;
  bool closing_ = false;
  bool stopped_ = false;
  absl::Status status_;      // written by the writer thread before it ends
  std::uint64_t calls_ = 0;  // writer thread only
  std::thread thread_;       // last: starts after everything above is built
};

struct naive_thread {
  template <class Observer, class Body>
  static absl::Status run(int fd, int producers, start_gate& gate, Observer& observer,
                          const Body& body, run_stats& st) {
    naive_writer<Observer> w(fd, observer);
    struct sender {
      naive_writer<Observer>* w;
      absl::Status send(funnel::outbound_frame&& f) { return w->send(std::move(f)); }
    };
    absl::Status sent = run_producers(producers, gate, body, [&] { return sender{&w}; });
    absl::Status closed = w.close();
    st.write_calls = w.write_calls();
    return sent.ok() ? closed : sent;
  }
};

}  // namespace funnel_bench

#endif  // FUNNEL_BENCH_BASELINES_H_
