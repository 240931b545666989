// bench/micro.cc
// -----------------------------------------------------------------------------
// //bench:micro: Google Benchmark micro-benchmarks of the pieces of a funnel
// writer, each on its own.
//
//   bazel run -c opt //bench:micro
//   bazel run -c opt //bench:micro -- --benchmark_filter=drain
//   bazel run //bench:micro -- --benchmark_min_time=0.001        # CI: runs each once, quickly
//
// Groups:
//   BM_encode_header / BM_decode_header / BM_frame_make / BM_frame_decoder
//       the procwire header, and what a producer pays to build a frame
//       (shared payload: one reference-count increment; static: none).
//   BM_queue_push<Q>/threads:N
//       Queue::try_push from N threads while one consumer thread drains
//       with pop_wait: the queue alone, items/s summed over producers.
//   BM_writer_send<Q>/threads:N
//       handle.send() of a real basic_writer<Q, null_sink, condvar, count>
//       from N threads: budget CAS + push + wake-up, the whole producer path,
//       with the writer thread draining into a sink that discards.
//   BM_writer_drain<Batcher>/payload
//       the writer loop alone: 4096 frames wait in the queue behind a gated
//       sink; the time from the gate opening to the end of the last write
//       (taken inside the sink) is pop + batch + gather list (+ coalescing
//       copies) + budget release, per frame. The sink discards, so no
//       system call is included: compare BM_socket_* for that.
//   BM_socket_gather / BM_socket_copy (payload)
//       64 frames into an AF_UNIX socket, drained by a reader thread: one
//       writev of 128 iovecs against memcpy into one buffer + one write:
//       the kernel's per-iovec cost, which coalescing_batcher avoids.
#include <benchmark/benchmark.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/harness.h"
#include "funnel/funnel.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/batcher/coalescing_batcher.h"
#include "funnel/policies/batcher/count_batcher.h"
#include "funnel/policies/queue/boost_lockfree_queue.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/queue/mutex_queue.h"

namespace {

using funnel_bench::now_ns;

// Static payload bytes: frames built on them copy without reference counting.
const std::array<std::byte, 1 << 16> kPayload{};

funnel::outbound_frame static_frame(std::size_t payload, std::uint32_t request_id = 0) {
  return *funnel::outbound_frame::make(
      1, 0, request_id, funnel::bytes::from_static(std::span(kPayload).first(payload)));
}

// A sink that takes everything and touches only the gather list.
struct null_sink {
  absl::StatusOr<std::size_t> write(std::span<const funnel::const_buffer> buffers) {
    return funnel::total_size(buffers);
  }
};

// --- the header and the frame ---------------------------------------------------------

void BM_encode_header(benchmark::State& state) {
  funnel::frame_header h{7, funnel::frame_flags::kResponseToParent, 0, 16};
  for (auto _ : state) {
    benchmark::DoNotOptimize(h);
    funnel::encoded_header e = funnel::encode_header(h);
    benchmark::DoNotOptimize(e);
    ++h.request_id;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_encode_header);

void BM_decode_header(benchmark::State& state) {
  funnel::encoded_header e =
      funnel::encode_header({7, funnel::frame_flags::kResponseToParent, 12345, 16});
  for (auto _ : state) {
    benchmark::DoNotOptimize(e);
    absl::StatusOr<funnel::frame_header> h = funnel::decode_header(e);
    benchmark::DoNotOptimize(h);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_decode_header);

// Arg: 0 shared payload (reference counted), 1 static payload.
void BM_frame_make(benchmark::State& state) {
  const bool shared = state.range(0) == 0;
  const std::vector<std::byte> bytes(16);
  const funnel::bytes payload =
      shared ? funnel::bytes::copy_from(bytes) : funnel::bytes::from_static(bytes);
  std::uint32_t seq = 0;
  for (auto _ : state) {
    absl::StatusOr<funnel::outbound_frame> f = funnel::outbound_frame::make(1, 0, seq++, payload);
    benchmark::DoNotOptimize(f);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(shared ? "shared payload" : "static payload");
}
BENCHMARK(BM_frame_make)->Arg(0)->Arg(1);

// 64 frames of `payload` bytes through funnel::frame_decoder, as one chunk.
void BM_frame_decoder(benchmark::State& state) {
  const auto payload = static_cast<std::size_t>(state.range(0));
  std::vector<std::byte> stream;
  for (std::uint32_t i = 0; i < 64; ++i) {
    const funnel::encoded_header h =
        funnel::encode_header({1, 0, i, static_cast<std::uint32_t>(payload)});
    stream.insert(stream.end(), h.begin(), h.end());
    stream.insert(stream.end(), payload, std::byte{0x5A});
  }
  for (auto _ : state) {
    funnel::frame_decoder d;
    d.push(stream);
    for (;;) {
      absl::StatusOr<std::optional<funnel::decoded_frame>> f = d.next();
      if (!f.ok() || !f->has_value()) break;
      benchmark::DoNotOptimize(f);
    }
  }
  state.SetItemsProcessed(state.iterations() * 64);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(stream.size()));
}
BENCHMARK(BM_frame_decoder)->Arg(16)->Arg(1024);

// --- queues alone -----------------------------------------------------------------------

template <class Q>
struct queue_rig {
  Q queue{1024};
  std::atomic<bool> stop{false};
  std::thread consumer{[this] {
    funnel::outbound_frame f;
    for (;;) {
      if (queue.pop_wait(f, absl::InfiniteFuture())) {
        f = funnel::outbound_frame();  // the writer destroys what it popped
        continue;
      }
      // Woken without a frame (closed, or spurious). Acquire: pairs with
      // the release in queue_teardown.
      if (stop.load(std::memory_order_acquire)) {
        while (queue.try_pop(f)) f = funnel::outbound_frame();
        return;
      }
    }
  }};
};

template <class Q>
std::unique_ptr<queue_rig<Q>>& queue_rig_instance() {
  static std::unique_ptr<queue_rig<Q>> rig;
  return rig;
}
template <class Q>
void queue_setup(const benchmark::State&) {
  queue_rig_instance<Q>() = std::make_unique<queue_rig<Q>>();
}
template <class Q>
void queue_teardown(const benchmark::State&) {
  queue_rig<Q>& rig = *queue_rig_instance<Q>();
  rig.stop.store(true, std::memory_order_release);  // pairs with the consumer's acquire
  rig.queue.close();
  rig.consumer.join();
  queue_rig_instance<Q>().reset();
}

template <class Q>
void BM_queue_push(benchmark::State& state) {
  Q& q = queue_rig_instance<Q>()->queue;
  const funnel::outbound_frame proto = static_frame(16);
  for (auto _ : state) {
    funnel::outbound_frame f = proto;
    while (!q.try_push(f)) std::this_thread::yield();  // full: let the consumer run
  }
  state.SetItemsProcessed(state.iterations());
}
#define FUNNEL_QUEUE_BENCH(Q)          \
  BENCHMARK_TEMPLATE(BM_queue_push, Q) \
      ->Setup(queue_setup<Q>)          \
      ->Teardown(queue_teardown<Q>)    \
      ->Threads(1)                     \
      ->Threads(2)                     \
      ->Threads(4)                     \
      ->UseRealTime()
FUNNEL_QUEUE_BENCH(funnel::mpsc_ring<funnel::outbound_frame>);
FUNNEL_QUEUE_BENCH(funnel::mutex_queue<funnel::outbound_frame>);
FUNNEL_QUEUE_BENCH(funnel::boost_lockfree_queue<funnel::outbound_frame>);

// --- the producer path of a real writer -----------------------------------------------

template <class Q>
using send_writer =
    funnel::basic_writer<Q, null_sink, funnel::condvar_backpressure, funnel::count_batcher>;

template <class Q>
std::unique_ptr<send_writer<Q>>& send_writer_instance() {
  static std::unique_ptr<send_writer<Q>> w;
  return w;
}
template <class Q>
void send_setup(const benchmark::State&) {
  send_writer_instance<Q>() = std::make_unique<send_writer<Q>>(null_sink{});
}
template <class Q>
void send_teardown(const benchmark::State& state) {
  if (!send_writer_instance<Q>()->close().ok()) {
    const_cast<benchmark::State&>(state).SkipWithError("writer close failed");
  }
  send_writer_instance<Q>().reset();
}

template <class Q>
void BM_writer_send(benchmark::State& state) {
  auto h = send_writer_instance<Q>()->handle();
  const funnel::outbound_frame proto = static_frame(16);
  for (auto _ : state) {
    if (!h.send(funnel::outbound_frame(proto)).ok()) {
      state.SkipWithError("send failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
#define FUNNEL_SEND_BENCH(Q)            \
  BENCHMARK_TEMPLATE(BM_writer_send, Q) \
      ->Setup(send_setup<Q>)            \
      ->Teardown(send_teardown<Q>)      \
      ->Threads(1)                      \
      ->Threads(2)                      \
      ->Threads(4)                      \
      ->UseRealTime()
FUNNEL_SEND_BENCH(funnel::mpsc_ring<funnel::outbound_frame>);
FUNNEL_SEND_BENCH(funnel::mutex_queue<funnel::outbound_frame>);
FUNNEL_SEND_BENCH(funnel::boost_lockfree_queue<funnel::outbound_frame>);

// --- the writer loop alone --------------------------------------------------------------

// Holds the writer inside its first write until opened; notes when the
// writer got through the gate and when its last write returned.
struct gate {
  absl::Mutex mu;
  bool closed ABSL_GUARDED_BY(mu) = false;
  bool writer_waiting ABSL_GUARDED_BY(mu) = false;
  std::atomic<std::int64_t> opened_ns{0};
  std::atomic<std::int64_t> last_write_ns{0};

  static bool is_open(gate* g) ABSL_SHARED_LOCKS_REQUIRED(g->mu) { return !g->closed; }
};

struct gated_null_sink {
  std::shared_ptr<gate> g;
  absl::StatusOr<std::size_t> write(std::span<const funnel::const_buffer> buffers) {
    {
      absl::MutexLock lock(&g->mu);
      if (g->closed) {
        g->writer_waiting = true;
        g->mu.Await(absl::Condition(&gate::is_open, g.get()));
        g->writer_waiting = false;
        // Relaxed: read by the benchmark thread after it has seen the
        // pending count reach 0 (the budget release that follows is seq_cst).
        g->opened_ns.store(now_ns(), std::memory_order_relaxed);
      }
    }
    const std::size_t n = funnel::total_size(buffers);
    g->last_write_ns.store(now_ns(), std::memory_order_relaxed);  // as above
    return n;
  }
};

template <class Batcher>
void BM_writer_drain(benchmark::State& state) {
  constexpr std::size_t kFrames = 4096;
  const auto payload = static_cast<std::size_t>(state.range(0));
  auto g = std::make_shared<gate>();
  funnel::writer_options options;
  options.max_pending_frames = kFrames;
  options.queue_capacity = kFrames;
  funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, gated_null_sink,
                       funnel::condvar_backpressure, Batcher>
      w(gated_null_sink{g}, options);
  auto h = w.handle();
  const funnel::outbound_frame proto = static_frame(payload);
  for (auto _ : state) {
    {
      absl::MutexLock lock(&g->mu);
      g->closed = true;
    }
    // The first frame makes the writer enter the sink and wait at the gate;
    // the rest pile up in the queue behind it.
    (void)h.send(funnel::outbound_frame(proto));
    {
      absl::MutexLock lock(&g->mu);
      g->mu.Await(absl::Condition(&g->writer_waiting));
    }
    for (std::size_t i = 1; i < kFrames; ++i) (void)h.send(funnel::outbound_frame(proto));
    {
      absl::MutexLock lock(&g->mu);
      g->closed = false;
    }
    // Not w.flush(): a flush() waiter is woken after every batch (see
    // docs/performance.md), which would put a futex wake-up into each batch
    // measured here. Polling the pending count costs the writer nothing.
    // Seq_cst load (pending_count): once it reads 0 the writer's release of
    // the last batch's budget, and the sink's stores before it, are visible.
    while (w.pending_count() != 0) absl::SleepFor(absl::Microseconds(50));
    if (!w.status().ok()) {
      state.SkipWithError("writer failed");
      break;
    }
    const std::int64_t ns = g->last_write_ns.load(std::memory_order_relaxed) -
                            g->opened_ns.load(std::memory_order_relaxed);
    state.SetIterationTime(static_cast<double>(ns) / 1e9);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(kFrames));
  state.SetBytesProcessed(state.iterations() *
                          static_cast<std::int64_t>(kFrames * (funnel::kHeaderSize + payload)));
}
BENCHMARK_TEMPLATE(BM_writer_drain, funnel::count_batcher)
    ->Arg(16)
    ->Arg(128)
    ->Arg(1024)
    ->UseManualTime();
BENCHMARK_TEMPLATE(BM_writer_drain, funnel::coalescing_batcher)
    ->Arg(16)
    ->Arg(128)
    ->Arg(1024)
    ->UseManualTime();

// --- the system call: gather vs copy ------------------------------------------------------

// A socket pair whose reading end a thread drains until EOF.
struct drained_socket {
  int fds[2] = {-1, -1};
  std::thread reader;
  drained_socket() {
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) return;
    reader = std::thread([fd = fds[1]] {
      std::vector<std::byte> buf(1 << 20);
      while (::read(fd, buf.data(), buf.size()) > 0) {
      }
    });
  }
  ~drained_socket() {
    if (fds[0] >= 0) ::close(fds[0]);
    if (reader.joinable()) reader.join();
    if (fds[1] >= 0) ::close(fds[1]);
  }
  bool ok() const { return fds[0] >= 0; }
};

bool write_fully(int fd, iovec* iov, int count) {
  while (count > 0) {
    ssize_t n = ::writev(fd, iov, count);
    if (n < 0) return false;
    while (count > 0 && static_cast<std::size_t>(n) >= iov->iov_len) {
      n -= static_cast<ssize_t>(iov->iov_len);
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<std::byte*>(iov->iov_base) + n;
      iov->iov_len -= static_cast<std::size_t>(n);
    }
  }
  return true;
}

constexpr int kSocketBatch = 64;

void BM_socket_gather(benchmark::State& state) {
  const auto payload = static_cast<std::size_t>(state.range(0));
  drained_socket s;
  if (!s.ok()) {
    state.SkipWithError("socketpair failed");
    return;
  }
  const funnel::encoded_header h =
      funnel::encode_header({1, 0, 0, static_cast<std::uint32_t>(payload)});
  std::vector<iovec> iov(2 * kSocketBatch);
  for (auto _ : state) {
    for (int i = 0; i < kSocketBatch; ++i) {
      iov[2 * i] = {const_cast<std::byte*>(h.data()), funnel::kHeaderSize};
      iov[2 * i + 1] = {const_cast<std::byte*>(kPayload.data()), payload};
    }
    if (!write_fully(s.fds[0], iov.data(), 2 * kSocketBatch)) {
      state.SkipWithError("writev failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kSocketBatch);
  state.SetBytesProcessed(state.iterations() * kSocketBatch *
                          static_cast<std::int64_t>(funnel::kHeaderSize + payload));
}
BENCHMARK(BM_socket_gather)->Arg(16)->Arg(128)->Arg(1024)->UseRealTime();

void BM_socket_copy(benchmark::State& state) {
  const auto payload = static_cast<std::size_t>(state.range(0));
  drained_socket s;
  if (!s.ok()) {
    state.SkipWithError("socketpair failed");
    return;
  }
  const funnel::encoded_header h =
      funnel::encode_header({1, 0, 0, static_cast<std::uint32_t>(payload)});
  std::vector<std::byte> staging(kSocketBatch * (funnel::kHeaderSize + payload));
  for (auto _ : state) {
    std::byte* out = staging.data();
    for (int i = 0; i < kSocketBatch; ++i) {
      std::memcpy(out, h.data(), funnel::kHeaderSize);
      std::memcpy(out + funnel::kHeaderSize, kPayload.data(), payload);
      out += funnel::kHeaderSize + payload;
    }
    iovec one{staging.data(), staging.size()};
    if (!write_fully(s.fds[0], &one, 1)) {
      state.SkipWithError("write failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kSocketBatch);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(staging.size()));
}
BENCHMARK(BM_socket_copy)->Arg(16)->Arg(128)->Arg(1024)->UseRealTime();

}  // namespace
