// bench/harness.h
// -----------------------------------------------------------------------------
// The measuring half of //bench:throughput: what a benchmark case is, how a
// run starts (start_gate) and ends (stream_reader), how frames are checked
// (stream_verifier), how write latency is taken (latency_probe), and the
// producer loops every queue-based implementation runs (throughput_body,
// paced_body, idle_body).
//
// Wire convention of every run, whatever the implementation: producer p
// (0-based) sends frames with method_id p + 1, flags 0, request_id = its own
// sequence number 0, 1, 2, ..., and a payload of `payload` bytes whose byte i
// is (31 * p + i) mod 256. In latency mode the first 8 payload bytes are the
// enqueue time instead (steady_clock nanoseconds, native byte order).
//
// Thread-safety: a stream_reader runs its own thread; everything else is used
// by one thread at a time unless its comment says otherwise.
#ifndef FUNNEL_BENCH_HARNESS_H_
#define FUNNEL_BENCH_HARNESS_H_

#include <sys/prctl.h>  // PR_SET_TIMERSLACK: accurate pacing sleeps
#include <sys/uio.h>    // iovec: the baselines' gather lists
#include <time.h>       // clock_gettime: thread and process CPU clocks
#include <unistd.h>     // read

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <latch>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/bytes.h"
#include "funnel/procwire/frame.h"
#include "funnel/procwire/frame_decoder.h"

namespace funnel_bench {

using bench_clock = std::chrono::steady_clock;

inline std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(bench_clock::now().time_since_epoch())
      .count();
}

// CPU time of the calling thread, and of the whole process, in nanoseconds.
inline std::int64_t thread_cpu_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}
inline std::int64_t process_cpu_ns() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// --- what one case sends -------------------------------------------------------

struct bench_case {
  std::size_t payload = 16;  // payload bytes per frame
  int producers = 1;         // producer threads (the LIMITs interleave their frames)
  std::uint64_t frames = 0;  // total over all producers

  // Producer p's share: frames / producers, the first (frames % producers) get one more.
  std::uint64_t frames_of(int p) const noexcept {
    const auto n = static_cast<std::uint64_t>(producers);
    return frames / n + (static_cast<std::uint64_t>(p) < frames % n ? 1 : 0);
  }
  std::size_t wire_size() const noexcept { return funnel::kHeaderSize + payload; }
  std::uint64_t wire_bytes() const noexcept { return frames * wire_size(); }
};

inline std::uint16_t method_of(int producer) { return static_cast<std::uint16_t>(producer + 1); }

// Producer p's payload bytes (see the wire convention above).
inline std::vector<std::byte> payload_pattern(int producer, std::size_t size) {
  std::vector<std::byte> data(size);
  for (std::size_t i = 0; i < size; ++i) {
    data[i] = static_cast<std::byte>((31 * static_cast<std::size_t>(producer) + i) & 0xFF);
  }
  return data;
}

// Who owns the payload a producer hands to the writer.
enum class payload_owner {
  kShared,  // one reference-counted buffer per producer: every frame copies
            // the reference (an atomic increment), the writer drops it (an
            // atomic decrement): the quickstart's way, and the default
  kStatic,  // bytes::from_static over a buffer that outlives the run: no
            // reference counting at all
};

// Every producer's payload for one run, built before the clock starts.
class payload_set {
 public:
  payload_set(const bench_case& c, payload_owner owner) {
    for (int p = 0; p < c.producers; ++p) patterns_.push_back(payload_pattern(p, c.payload));
    for (const std::vector<std::byte>& v : patterns_) {
      payloads_.push_back(owner == payload_owner::kShared ? funnel::bytes::copy_from(v)
                                                          : funnel::bytes::from_static(v));
    }
  }
  const funnel::bytes& of(int p) const { return payloads_[static_cast<std::size_t>(p)]; }
  std::span<const std::byte> pattern(int p) const { return patterns_[static_cast<std::size_t>(p)]; }

 private:
  std::vector<std::vector<std::byte>> patterns_;  // never resized after the constructor
  std::vector<funnel::bytes> payloads_;
};

// --- starting a run ---------------------------------------------------------------

// Makes every producer wait until all of them are ready, then lets them go
// at once; the moment they are let go is the start of the measurement.
class start_gate {
 public:
  explicit start_gate(int participants) : ready_(participants) {}

  // Producer: "ready"; returns when the gate opens.
  void arrive_and_wait() {
    ready_.count_down();
    go_.wait();
  }
  // Owner: waits until every participant is ready, notes the time, opens.
  void open() {
    ready_.wait();
    cpu0_ = process_cpu_ns();
    t0_ = bench_clock::now();
    go_.count_down();
  }
  // Valid after open(): when, and the process's CPU time then.
  bench_clock::time_point t0() const noexcept { return t0_; }
  std::int64_t process_cpu_at_open() const noexcept { return cpu0_; }

 private:
  std::latch ready_;
  std::latch go_{1};
  bench_clock::time_point t0_{};
  std::int64_t cpu0_ = 0;
};

// CPU time the sending threads (producers, or a LIMIT's one thread) spent
// from the gate to their last send; any thread may add.
struct cpu_account {
  // Relaxed: summed by threads that are joined before it is read.
  void add(std::int64_t ns) noexcept { senders_ns.fetch_add(ns, std::memory_order_relaxed); }
  std::atomic<std::int64_t> senders_ns{0};
};

// --- checking the stream ----------------------------------------------------------

// Decodes the stream with funnel::frame_decoder and checks every frame
// against the wire convention: known producer, next sequence number of that
// producer, payload length, and (unless the payload carries timestamps) the
// payload bytes. Costs a decoder copy and an allocation per frame: timings of
// a run with --verify are not representative.
class stream_verifier {
 public:
  stream_verifier(const bench_case& c, bool check_payload_bytes)
      : case_(c), check_bytes_(check_payload_bytes), next_seq_(c.producers, 0) {
    for (int p = 0; p < c.producers; ++p) expected_.push_back(payload_pattern(p, c.payload));
  }

  // Feeds the next chunk; after the first problem, later chunks are ignored.
  void feed(std::span<const std::byte> chunk) {
    if (!error_.empty()) return;
    decoder_.push(chunk);
    for (;;) {
      absl::StatusOr<std::optional<funnel::decoded_frame>> next = decoder_.next();
      if (!next.ok()) {
        error_ = std::string(next.status().message());
        return;
      }
      if (!next->has_value()) return;
      check(**next);
      if (!error_.empty()) return;
    }
  }

  // The first problem, including frames that never arrived; empty when all is well.
  std::string finish() {
    if (!error_.empty()) return error_;
    if (decoder_.buffered() != 0) {
      return absl::StrCat("stream ends inside a frame (", decoder_.buffered(), " bytes left)");
    }
    for (int p = 0; p < case_.producers; ++p) {
      if (next_seq_[p] != case_.frames_of(p)) {
        return absl::StrCat("producer ", p, ": ", next_seq_[p], " of ", case_.frames_of(p),
                            " frames arrived");
      }
    }
    return "";
  }

  std::uint64_t frames_checked() const noexcept { return checked_; }

 private:
  void check(const funnel::decoded_frame& f) {
    const int p = f.header.method_id - 1;
    if (p < 0 || p >= case_.producers) {
      error_ = absl::StrCat("frame from unknown producer (method_id ", f.header.method_id, ")");
    } else if (f.header.request_id != next_seq_[p]) {
      error_ = absl::StrCat("producer ", p, ": expected frame ", next_seq_[p], ", got ",
                            f.header.request_id, " (missing, duplicated or out of order)");
    } else if (f.payload.size() != case_.payload) {
      error_ = absl::StrCat("producer ", p, ", frame ", f.header.request_id, ": payload of ",
                            f.payload.size(), " bytes, expected ", case_.payload);
    } else if (check_bytes_ &&
               (case_.payload != 0 &&
                std::memcmp(f.payload.data(), expected_[p].data(), case_.payload) != 0)) {
      error_ = absl::StrCat("producer ", p, ", frame ", f.header.request_id,
                            ": payload bytes differ from those sent");
    }
    if (!error_.empty()) return;
    ++next_seq_[p];
    ++checked_;
  }

  bench_case case_;
  bool check_bytes_;
  funnel::frame_decoder decoder_;
  std::vector<std::vector<std::byte>> expected_;
  std::vector<std::uint64_t> next_seq_;
  std::uint64_t checked_ = 0;
  std::string error_;
};

// Drains the reading end of the socket pair on its own thread with large
// reads, counts the bytes exactly, notes when the last expected byte
// arrived, and (optionally) verifies the stream. Reads until EOF, so bytes
// beyond the expected count are caught too.
class stream_reader {
 public:
  static constexpr std::size_t kReadSize = 1 << 20;

  struct result {
    std::uint64_t bytes = 0;
    bench_clock::time_point last_byte{};  // when `expected` bytes had arrived
    std::int64_t cpu_ns = 0;              // the reader thread's CPU time
    std::string error;                    // empty when all is well
  };

  // `verifier` may be null; it must outlive join().
  stream_reader(int fd, std::uint64_t expected, stream_verifier* verifier)
      : fd_(fd), expected_(expected), verifier_(verifier), thread_([this] { run(); }) {}
  stream_reader(const stream_reader&) = delete;
  stream_reader& operator=(const stream_reader&) = delete;
  ~stream_reader() {
    if (thread_.joinable()) thread_.join();
  }

  // Bytes read so far (any thread). Relaxed: a progress count.
  std::uint64_t bytes_so_far() const noexcept { return seen_.load(std::memory_order_relaxed); }

  // Returns after the writing end is closed and everything is read.
  result join() {
    thread_.join();
    return result_;
  }

 private:
  void run() {
    std::vector<std::byte> buffer(kReadSize);
    for (;;) {
      const ssize_t n = ::read(fd_, buffer.data(), buffer.size());
      if (n == 0) break;  // EOF
      if (n < 0) {
        if (errno == EINTR) continue;
        result_.error = absl::StrCat("read: ", std::strerror(errno));
        break;
      }
      const auto got = static_cast<std::size_t>(n);
      result_.bytes += got;
      seen_.store(result_.bytes, std::memory_order_relaxed);
      if (result_.bytes >= expected_ && result_.last_byte == bench_clock::time_point{}) {
        result_.last_byte = bench_clock::now();
      }
      if (verifier_ != nullptr) verifier_->feed(std::span(buffer).first(got));
    }
    if (result_.error.empty() && result_.bytes != expected_) {
      result_.error = absl::StrCat("reader got ", result_.bytes, " bytes, expected ", expected_);
    }
    if (result_.error.empty() && verifier_ != nullptr) result_.error = verifier_->finish();
    result_.cpu_ns = thread_cpu_ns();
  }

  const int fd_;
  const std::uint64_t expected_;
  stream_verifier* const verifier_;
  std::atomic<std::uint64_t> seen_{0};
  result result_;
  std::thread thread_;  // last: starts after every other member is built
};

// --- what a run reports besides its time -------------------------------------------

struct run_stats {
  std::uint64_t write_calls = 0;         // write/writev/sendmsg calls (0: not counted)
  std::uint64_t backpressure_waits = 0;  // sends that found the pending bound reached
};

// --- observing writes (latency mode) -----------------------------------------------

// A write observer that does nothing: what the throughput mode uses.
struct no_observer {
  void observe(std::span<const funnel::const_buffer>, std::size_t) noexcept {}
  void observe(std::span<const iovec>, std::size_t) noexcept {}
};

// Records, for every frame whose last byte a write call took, the time from
// its enqueue (the timestamp in its first 8 payload bytes) to the return of
// that call. It parses the byte stream exactly as written: it is given each
// call's gather list as offered and the count the call returned, so partial
// writes, coalesced runs and resumptions inside a header are all followed.
// Called by the one thread that writes (the writer thread, or a producer
// holding the write mutex). Costs the writer ~20 bytes of copying per frame.
class latency_probe {
 public:
  explicit latency_probe(std::size_t expected_frames) { samples_.reserve(expected_frames); }

  void observe(std::span<const funnel::const_buffer> offered, std::size_t n) {
    const std::int64_t now = now_ns();
    for (const funnel::const_buffer& b : offered) {
      if (n == 0) break;
      const std::size_t take = std::min(n, b.size);
      feed(b.data, take, now);
      n -= take;
    }
  }
  void observe(std::span<const iovec> offered, std::size_t n) {
    const std::int64_t now = now_ns();
    for (const iovec& v : offered) {
      if (n == 0) break;
      const std::size_t take = std::min(n, v.iov_len);
      feed(static_cast<const std::byte*>(v.iov_base), take, now);
      n -= take;
    }
  }

  // Nanoseconds, one per completed frame, in write order.
  const std::vector<std::int64_t>& samples() const noexcept { return samples_; }

 private:
  static constexpr std::size_t kStampSize = sizeof(std::int64_t);

  void feed(const std::byte* p, std::size_t n, std::int64_t now) {
    while (n > 0) {
      if (header_have_ < funnel::kHeaderSize) {
        const std::size_t take = std::min(n, funnel::kHeaderSize - header_have_);
        std::memcpy(header_ + header_have_, p, take);
        header_have_ += take;
        p += take;
        n -= take;
        if (header_have_ == funnel::kHeaderSize) {
          auto u = [&](std::size_t i) { return static_cast<std::uint32_t>(header_[i]); };
          payload_left_ = (u(7) << 24) | (u(8) << 16) | (u(9) << 8) | u(10);
          stamp_have_ = 0;
          if (payload_left_ == 0) header_have_ = 0;  // no stamp to read: not sampled
        }
        continue;
      }
      const std::size_t take = std::min<std::size_t>(n, payload_left_);
      if (stamp_have_ < kStampSize) {
        const std::size_t s = std::min(take, kStampSize - stamp_have_);
        std::memcpy(stamp_ + stamp_have_, p, s);
        stamp_have_ += s;
      }
      p += take;
      n -= take;
      payload_left_ -= take;
      if (payload_left_ == 0) {
        if (stamp_have_ == kStampSize) {
          std::int64_t enqueued;
          std::memcpy(&enqueued, stamp_, kStampSize);
          samples_.push_back(now - enqueued);
        }
        header_have_ = 0;
      }
    }
  }

  std::byte header_[funnel::kHeaderSize];
  std::size_t header_have_ = 0;
  std::size_t payload_left_ = 0;
  std::byte stamp_[kStampSize];
  std::size_t stamp_have_ = 0;
  std::vector<std::int64_t> samples_;
};

// --- the producer loops -------------------------------------------------------------
//
// Every queue-based implementation runs the same bodies on its producer
// threads: `body(p, sender)` with a sender that has
// `absl::Status send(funnel::outbound_frame&&)`. The bodies build each frame
// with outbound_frame::make (validate + encode the header on the producer, as
// a user does) and never build anything else inside the timed region.

// As fast as possible: producer p sends its share of the case's frames.
// Sends frame `id` of a producer with `method` and `payload`: encoded in
// place when the sender can (a byte-ring writer's send_in_place: no frame
// object at all), else built as an outbound_frame. `payload_ref` is the
// reference-counted payload to share when a frame object is built.
template <class Sender>
absl::Status send_one(Sender& sender, std::uint16_t method, std::uint32_t id,
                      std::span<const std::byte> payload, const funnel::bytes& payload_ref) {
  if constexpr (requires { sender.send_in_place(method, id, payload); }) {
    return sender.send_in_place(method, id, payload);
  } else {
    absl::StatusOr<funnel::outbound_frame> f =
        funnel::outbound_frame::make(method, 0, id, payload_ref);
    if (!f.ok()) return f.status();
    return sender.send(*std::move(f));
  }
}

struct throughput_body {
  const bench_case& c;
  start_gate& gate;
  const payload_set& payloads;
  cpu_account& cpu;

  template <class Sender>
  absl::Status operator()(int p, Sender& sender) const {
    const funnel::bytes& payload = payloads.of(p);
    const std::uint64_t n = c.frames_of(p);
    gate.arrive_and_wait();
    const std::int64_t cpu0 = thread_cpu_ns();
    struct account_on_exit {
      cpu_account& cpu;
      std::int64_t cpu0;
      ~account_on_exit() { cpu.add(thread_cpu_ns() - cpu0); }
    } account{cpu, cpu0};
    const std::span<const std::byte> bytes_of_payload(payload.data(), payload.size());
    for (std::uint64_t k = 0; k < n; ++k) {
      if (absl::Status s = send_one(sender, method_of(p), static_cast<std::uint32_t>(k),
                                    bytes_of_payload, payload);
          !s.ok()) {
        return absl::Status(s.code(),
                            absl::StrCat("producer ", p, ", frame ", k, ": ", s.message()));
      }
    }
    return absl::OkStatus();
  }
};

// At a fixed offered rate: frame k of producer p is due at
// t0 + (k * producers + p) / rate (the producers' schedules interleave).
// A producer sleeps (absl::SleepFor, never spins) until its next frame is
// due, then sends every frame that is due, stamping each with the time just
// before it is built and sent. The stamp is the actual enqueue time, not the
// scheduled one: a producer that wakes late delays its frames without that
// delay being counted (coordinated omission is excluded on purpose: we
// measure the writer, not the sleep).
struct paced_body {
  const bench_case& c;
  start_gate& gate;
  double rate;  // frames per second, over all producers

  template <class Sender>
  absl::Status operator()(int p, Sender& sender) const {
    std::vector<std::byte> scratch = payload_pattern(p, c.payload);
    const std::uint64_t n = c.frames_of(p);
    const double period_ns = 1e9 / rate;
    // Linux pads every timed sleep by the thread's timer slack (50 us by
    // default), longer than the 10 us between frames at 100k frames/s.
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    gate.arrive_and_wait();
    const std::int64_t t0 =
        std::chrono::duration_cast<std::chrono::nanoseconds>(gate.t0().time_since_epoch()).count();
    for (std::uint64_t k = 0; k < n; ++k) {
      const auto due = t0 + static_cast<std::int64_t>(
                                static_cast<double>(k * static_cast<std::uint64_t>(c.producers) +
                                                    static_cast<std::uint64_t>(p)) *
                                period_ns);
      const std::int64_t now = now_ns();
      if (due > now) absl::SleepFor(absl::Nanoseconds(due - now));
      const std::int64_t stamp = now_ns();
      std::memcpy(scratch.data(), &stamp, sizeof stamp);
      if constexpr (requires { sender.send_in_place(method_of(p), 0u, scratch); }) {
        if (absl::Status s =
                sender.send_in_place(method_of(p), static_cast<std::uint32_t>(k), scratch);
            !s.ok()) {
          return s;
        }
      } else {
        absl::StatusOr<funnel::outbound_frame> f = funnel::outbound_frame::make(
            method_of(p), 0, static_cast<std::uint32_t>(k), funnel::bytes::copy_from(scratch));
        if (!f.ok()) return f.status();
        if (absl::Status s = sender.send(*std::move(f)); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }
};

// Idle mode, one producer: sends one frame (so the writer thread has started
// and written once), then runs `idle` (which waits for the frame to arrive
// and measures while nothing is sent), then returns.
struct idle_body {
  start_gate& gate;
  absl::FunctionRef<void()> idle;

  template <class Sender>
  absl::Status operator()(int p, Sender& sender) const {
    gate.arrive_and_wait();
    absl::StatusOr<funnel::outbound_frame> f = funnel::outbound_frame::make(
        method_of(p), 0, 0, funnel::bytes::copy_from(payload_pattern(p, 16)));
    if (!f.ok()) return f.status();
    if (absl::Status s = sender.send(*std::move(f)); !s.ok()) return s;
    idle();
    return absl::OkStatus();
  }
};

// Starts `producers` threads running `body(p, sender)`, each with its own
// sender from `make_sender()`, opens the gate once all are ready, joins them.
// Returns the first producer error.
template <class Body, class MakeSender>
absl::Status run_producers(int producers, start_gate& gate, const Body& body,
                           MakeSender make_sender) {
  std::vector<absl::Status> results(static_cast<std::size_t>(producers));
  std::vector<std::thread> threads;
  threads.reserve(results.size());
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&body, &results, p, sender = make_sender()]() mutable {
      results[static_cast<std::size_t>(p)] = body(p, sender);
    });
  }
  gate.open();
  for (std::thread& t : threads) t.join();
  for (absl::Status& s : results) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// --- statistics -----------------------------------------------------------------------

// The q-quantile (0..1) of `v` (sorted in place), nearest rank.
inline double quantile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(rank, v.size() - 1)];
}

}  // namespace funnel_bench

#endif  // FUNNEL_BENCH_HARNESS_H_
