// bench/lanes.h
// -----------------------------------------------------------------------------
// An experiment, not a funnel policy: per-producer SPSC byte lanes merged by
// one writer thread (Quill's queue design), against funnel's one shared byte
// ring (funnel::byte_ring) at several producers. Issue #8 asks whether lanes
// win there; this measures it (docs/performance.md).
//
//   lanes_thread   each producer encodes its frames into its own 256 KiB lane
//                  (no CAS: a plain release store of its tail); the writer
//                  gathers every lane's committed bytes (one or two ranges per
//                  lane) into one writev, then frees them (release store of each
//                  head). Both sides sleep on event counts, never spin.
//
// What it leaves out, and funnel would need: an exact bound across lanes (each
// lane is bounded on its own), lanes for handles shared across threads, lane
// registration and retirement, failure accounting, claims. Per-producer order
// holds (a lane is FIFO); frames of different producers interleave by region.
#ifndef FUNNEL_BENCH_LANES_H_
#define FUNNEL_BENCH_LANES_H_

#include <sys/uio.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "bench/baselines.h"
#include "bench/harness.h"
#include "funnel/event_count.h"
#include "funnel/procwire/frame.h"

namespace funnel_bench {

template <class Observer>
class lanes_writer {
 public:
  static constexpr std::size_t kLaneBytes = std::size_t{256} * 1024;  // a power of two

  lanes_writer(int fd, int lanes, Observer& observer) : fd_(fd), observer_(observer) {
    for (int i = 0; i < lanes; ++i) lanes_.push_back(std::make_unique<lane>());
    iov_.reserve(2 * lanes_.size());
    thread_ = std::thread([this] { run(); });
  }
  lanes_writer(const lanes_writer&) = delete;
  lanes_writer& operator=(const lanes_writer&) = delete;

  // Producer `p` only: encodes one frame (the wire ranges `parts`) into its lane.
  absl::Status send(int p, std::span<const funnel::const_buffer> parts) {
    lane& l = *lanes_[static_cast<std::size_t>(p)];
    std::size_t n = 0;
    for (const funnel::const_buffer& b : parts) n += b.size;
    const std::uint64_t t = l.tail.load(std::memory_order_relaxed);  // ours alone
    // Acquire: the writer is done with the bytes it freed.
    space_.await(
        [&] {
          return failed_.load(std::memory_order_acquire) ||
                 t + n - l.head.load(std::memory_order_acquire) <= kLaneBytes;
        },
        absl::InfiniteFuture());
    if (failed_.load(std::memory_order_acquire)) return absl::UnavailableError("lanes: failed");
    std::uint64_t at = t;
    for (const funnel::const_buffer& b : parts) {
      if (b.size == 0) continue;
      const std::size_t off = at & (kLaneBytes - 1);
      const std::size_t first = std::min(b.size, kLaneBytes - off);
      std::memcpy(l.bytes.get() + off, b.data, first);
      if (first < b.size) std::memcpy(l.bytes.get(), b.data + first, b.size - first);
      at += b.size;
    }
    l.tail.store(t + n, std::memory_order_release);  // publishes the bytes to the writer
    ready_.notify_all();
    return absl::OkStatus();
  }

  absl::Status close() {
    closing_.store(true, std::memory_order_release);
    ready_.notify_all();
    thread_.join();
    return status_;
  }
  std::uint64_t write_calls() const { return calls_; }

 private:
  struct lane {
    std::unique_ptr<std::byte[]> bytes = std::make_unique<std::byte[]>(kLaneBytes);
    alignas(64) std::atomic<std::uint64_t> tail{0};  // the producer's
    alignas(64) std::atomic<std::uint64_t> head{0};  // the writer's
  };

  bool any_ready() const {
    for (const auto& l : lanes_) {
      if (l->tail.load(std::memory_order_acquire) != l->head.load(std::memory_order_relaxed)) {
        return true;
      }
    }
    return false;
  }

  void run() {
    std::vector<std::uint64_t> tails(lanes_.size());
    for (;;) {
      iov_.clear();
      for (std::size_t i = 0; i < lanes_.size(); ++i) {
        lane& l = *lanes_[i];
        const std::uint64_t h = l.head.load(std::memory_order_relaxed);  // ours alone
        tails[i] = l.tail.load(std::memory_order_acquire);               // the bytes are visible
        const std::size_t n = tails[i] - h, off = h & (kLaneBytes - 1);
        const std::size_t first = std::min(n, kLaneBytes - off);
        if (first > 0) iov_.push_back({l.bytes.get() + off, first});
        if (first < n) iov_.push_back({l.bytes.get(), n - first});
      }
      if (iov_.empty()) {
        if (closing_.load(std::memory_order_acquire) && !any_ready()) return;
        ready_.await([&] { return any_ready() || closing_.load(std::memory_order_acquire); },
                     absl::InfiniteFuture());
        continue;
      }
      if (absl::Status s = write_all(fd_, iov_.data(), iov_.size(), observer_, calls_); !s.ok()) {
        status_ = s;
        failed_.store(true, std::memory_order_release);
        space_.notify_all();
        return;
      }
      for (std::size_t i = 0; i < lanes_.size(); ++i) {
        lanes_[i]->head.store(tails[i], std::memory_order_release);  // the space is free again
      }
      space_.notify_all();
    }
  }

  const int fd_;
  Observer& observer_;
  std::vector<std::unique_ptr<lane>> lanes_;
  std::vector<iovec> iov_;
  funnel::event_count ready_;  // the writer sleeps here
  funnel::event_count space_;  // producers wait for lane space here
  std::atomic<bool> closing_{false};
  std::atomic<bool> failed_{false};
  std::uint64_t calls_ = 0;
  absl::Status status_;
  std::thread thread_;
};

struct lanes_thread {
  template <class Observer, class Body>
  static absl::Status run(int fd, int producers, start_gate& gate, Observer& observer,
                          const Body& body, run_stats& st) {
    lanes_writer<Observer> w(fd, producers, observer);
    struct sender {
      lanes_writer<Observer>* w;
      int p;
      absl::Status send(funnel::outbound_frame&& f) {
        const funnel::frame_ranges<funnel::outbound_frame::max_ranges> r = f.wire();
        return w->send(p, std::span<const funnel::const_buffer>(r.begin(), r.end()));
      }
      absl::Status send_in_place(std::uint16_t method, std::uint32_t id,
                                 std::span<const std::byte> payload) {
        const funnel::encoded_header hdr =
            funnel::encode_header({method, 0, id, static_cast<std::uint32_t>(payload.size())});
        const funnel::const_buffer parts[] = {{hdr.data(), hdr.size()},
                                              {payload.data(), payload.size()}};
        return w->send(p, parts);
      }
    };
    int next = 0;
    absl::Status sent = run_producers(producers, gate, body, [&] { return sender{&w, next++}; });
    absl::Status closed = w.close();
    st.write_calls = w.write_calls();
    return sent.ok() ? closed : sent;
  }
};

}  // namespace funnel_bench

#endif  // FUNNEL_BENCH_LANES_H_
