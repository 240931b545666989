// bench/throughput.cc
// -----------------------------------------------------------------------------
// //bench:throughput: procwire frames from producer threads, through a
// writer, into one end of an AF_UNIX SOCK_STREAM socket pair; a reader thread
// drains the other end with 1 MiB reads and counts every byte.
//
//   bazel run -c opt //bench:throughput                       # all cases, all writers
//   bazel run -c opt //bench:throughput -- --payload=16 --producers=4 --impl=LIMIT,coalescing
//   bazel run -c opt //bench:throughput -- --mode=latency     # p50/p99/p99.9 at 100k frames/s
//   bazel run -c opt //bench:throughput -- --mode=idle        # CPU of an idle writer
//   bazel run //bench:throughput -- --mode=all --frames=2000 --reps=1 --warmup=0
//       --verify --idle_seconds=0.1                            # CI (one line): checks everything
//
// Modes:
//   throughput  time from the start of sending (all producers released at
//               once) to the last byte seen by the reader; frames/s and MB/s
//               (wire bytes: 11-byte header + payload), median of --reps runs
//               with the min-max spread, ratios to LIMIT-writev (xLIMIT, the
//               reference), to LIMIT-bigcopy (xBIG) and to the procwire preset
//               (xprocwire), all of the same run. Repetitions are interleaved
//               (run 1 of every implementation, then run 2 of every one, ...)
//               so machine drift hits all alike. Also the CPU time per frame
//               from the gate to the end, split by thread: the senders
//               (producers, or the LIMIT's one thread; CLOCK_THREAD_CPUTIME_ID),
//               the reader (likewise) and the rest of the process, which is the
//               writer thread.
//   latency     producers paced at --rate frames/s in total; for each frame,
//               the time from just before its send() to the return of the
//               write call that carried its last byte, taken by a sink wrapper
//               (funnel) or after the baselines' own writev (latency_probe in
//               harness.h). p50/p99/p99.9 are medians over the runs; max is the
//               largest seen.
//   idle        a writer that has written one frame and then gets nothing:
//               the process's CPU time (getrusage) and context switches over
//               --idle_seconds while the main thread sleeps and the reader
//               blocks in read(). A writer thread that sleeps properly costs ~0.
//
// --verify decodes and checks every frame (producer, per-producer order,
// payload bytes) and makes any problem fatal: the exit status is non-zero on
// any verification failure, send or close error, or byte-count mismatch
// (byte counts are checked exactly in every mode, --verify or not).
//
// Implementations (--list prints them): the baselines of bench/baselines.h
// (LIMIT-writev, LIMIT-memcpy, LIMIT-bigcopy: one thread, no queue, throughput
// mode only; mutex-direct; naive-thread), the lanes experiment of
// bench/lanes.h (lanes-spsc), and funnel writers named by the presets
// algebra, e.g. "procwire+condvar" is
// writer_for<with<procwire_preset, condvar_backpressure>>; "+in_place" rows
// encode with handle.send_in_place (byte rings only).
#include <signal.h>
#include <sys/resource.h>  // getrusage
#include <sys/socket.h>    // socketpair
#include <unistd.h>

#include <algorithm>
#include <boost/hana/concat.hpp>
#include <boost/hana/for_each.hpp>
#include <boost/hana/transform.hpp>
#include <boost/hana/tuple.hpp>
#include <boost/hana/type.hpp>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/baselines.h"
#include "bench/harness.h"
#include "bench/lanes.h"
#include "funnel/funnel.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/backpressure/spin_backpressure.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/policies/batcher/coalescing_batcher.h"
#include "funnel/policies/queue/boost_lockfree_queue.h"
#include "funnel/policies/queue/byte_ring.h"
#include "funnel/policies/queue/mutex_queue.h"

ABSL_FLAG(std::string, mode, "throughput", "throughput, latency, idle, or all");
ABSL_FLAG(std::string, cases, "",
          "comma-separated PAYLOADxPRODUCERS cases, e.g. 16x1,16x4 (default: "
          "16x1,16x4,256x1,1024x1,65536x1 for throughput; 16x1,16x4,1024x1 for latency)");
ABSL_FLAG(int64_t, payload, -1, "payload bytes: run this one case (with --producers)");
ABSL_FLAG(int, producers, 0, "producer threads: run this one case (with --payload)");
ABSL_FLAG(int64_t, frames, 0,
          "frames per run over all producers (0: about 512 MiB of wire bytes, between 20k "
          "and 2M frames, for throughput; rate x latency_seconds for latency)");
ABSL_FLAG(int, reps, 5, "measured runs of every implementation per case (interleaved)");
ABSL_FLAG(int, warmup, 1, "unmeasured runs of every implementation before the measured ones");
ABSL_FLAG(std::string, impl, "",
          "comma-separated filters; run the implementations whose name contains one, or "
          "equals one written =NAME (default: all; see --list)");
ABSL_FLAG(bool, list, false, "print the implementation names and exit");
ABSL_FLAG(bool, verify, false, "decode and check every frame; any failure is fatal");
ABSL_FLAG(std::string, payload_owner, "shared",
          "shared: one reference-counted payload per producer (every frame copies the "
          "reference); static: bytes::from_static, no reference counting");
ABSL_FLAG(double, rate, 100000, "latency mode: offered frames per second, all producers");
ABSL_FLAG(double, latency_seconds, 1, "latency mode: seconds of traffic per run");
ABSL_FLAG(double, idle_seconds, 1, "idle mode: seconds measured per implementation");

namespace funnel_bench {
namespace {

namespace hana = boost::hana;

// --- funnel writers as implementations ----------------------------------------------

// Short names of the policies, for implementation names.
template <class Policy>
constexpr const char* policy_name = "?";
template <>
constexpr const char* policy_name<funnel::mpsc_ring<funnel::outbound_frame>> = "mpsc_ring";
template <>
constexpr const char* policy_name<funnel::mutex_queue<funnel::outbound_frame>> = "mutex_queue";
template <>
constexpr const char* policy_name<funnel::boost_lockfree_queue<funnel::outbound_frame>> =
    "boost_lockfree";
template <>
constexpr const char* policy_name<funnel::sleep_backpressure> = "sleep";
template <>
constexpr const char* policy_name<funnel::condvar_backpressure> = "condvar";
template <>
constexpr const char* policy_name<funnel::spin_backpressure> = "spin";
template <>
constexpr const char* policy_name<funnel::count_batcher> = "count";
template <>
constexpr const char* policy_name<funnel::coalescing_batcher> = "coalescing";
template <>
constexpr const char* policy_name<funnel::posix_writev_sink> = "writev";

// The byte ring (funnel/policies/queue/byte_ring.h): producers copy frames
// into one ring; frames of 64 KiB and more travel by reference. "phased":
// the writer re-checks a while before it sleeps (lower latency).
using ring_queue = funnel::byte_ring<funnel::outbound_frame>;
using phased_ring_queue =
    funnel::byte_ring<funnel::outbound_frame, funnel::byte_ring_config{.spin_before_park = 2000}>;
// Every frame by reference (no payload copy at any size): against "ring",
// where the copy stops paying off (the crossover for by_reference_above).
using byref_ring_queue =
    funnel::byte_ring<funnel::outbound_frame, funnel::byte_ring_config{.by_reference_above = 0}>;
template <>
constexpr const char* policy_name<ring_queue> = "ring";
template <>
constexpr const char* policy_name<byref_ring_queue> = "ring_byref";
template <>
constexpr const char* policy_name<phased_ring_queue> = "ring_phased";
// Batches capped by bytes only (256 KiB, any number of frames): with the
// ring, a batch is one or two contiguous ranges however many frames it holds.
struct wide_batcher : funnel::byte_batcher {
  wide_batcher() : funnel::byte_batcher(256 * 1024, std::size_t{1} << 20) {}
};
template <>
constexpr const char* policy_name<wide_batcher> = "bytes256k";

// Writer options per preset: the defaults, except that ring presets hold up
// to 64k records in a 1 MiB ring (the default 1024 frames would cap a 16-byte
// stream at 27 KiB in flight).
template <class Preset>
funnel::writer_options bench_options() {
  funnel::writer_options o;
  using queue = typename decltype(+Preset::policies[funnel::kQueueAxis])::type;
  if constexpr (funnel::byte_queue<queue>) {
    o.max_pending_frames = std::size_t{1} << 16;
    o.max_pending_bytes = std::size_t{1} << 20;
  }
  return o;
}

// A preset's name: "procwire", plus "+policy" for every axis where it
// differs from procwire_preset (read from the presets' Hana maps).
template <class Preset>
std::string preset_name() {
  std::string name = "procwire";
  constexpr auto axes = hana::make_tuple(funnel::kQueueAxis, funnel::kBackpressureAxis,
                                         funnel::kBatcherAxis, funnel::kSinkAxis);
  hana::for_each(axes, [&](auto axis) {
    using mine = typename decltype(+Preset::policies[axis])::type;
    using base = typename decltype(+funnel::procwire_preset::policies[axis])::type;
    if constexpr (!std::is_same_v<mine, base>) absl::StrAppend(&name, "+", policy_name<mine>);
  });
  return name;
}

// The funnel writers measured: the procwire preset; the preset with one
// policy swapped, for each alternative worth knowing about; and the tuned
// combinations (condvar backpressure + coalescing batcher, on each lock-free
// or locked queue). Hana computes the preset types.
constexpr auto kOneSwaps =
    hana::tuple_t<funnel::condvar_backpressure, funnel::spin_backpressure,
                  funnel::mutex_queue<funnel::outbound_frame>,
                  funnel::boost_lockfree_queue<funnel::outbound_frame>, funnel::coalescing_batcher>;
constexpr auto kTunedQueues = hana::tuple_t<funnel::mpsc_ring<funnel::outbound_frame>,
                                            funnel::mutex_queue<funnel::outbound_frame>>;

// The byte-ring configurations: condvar and spin backpressure, and the
// phased writer wait, each with byte-capped batches.
template <class Q, class B>
using ring_preset =
    funnel::with<funnel::with<funnel::with<funnel::procwire_preset, Q>, B>, wide_batcher>;
constexpr auto kRingPresets =
    hana::tuple_t<ring_preset<ring_queue, funnel::condvar_backpressure>,
                  ring_preset<ring_queue, funnel::spin_backpressure>,
                  ring_preset<phased_ring_queue, funnel::condvar_backpressure>>;
constexpr auto kRingByReference =
    hana::tuple_t<ring_preset<byref_ring_queue, funnel::condvar_backpressure>>;

constexpr auto kPresets = hana::concat(
    hana::concat(
        hana::concat(
            hana::tuple_t<funnel::procwire_preset>,
            hana::transform(kOneSwaps,
                            [](auto policy) {
                              using P = typename decltype(policy)::type;
                              return hana::type_c<funnel::with<funnel::procwire_preset, P>>;
                            })),
        hana::transform(kTunedQueues,
                        [](auto queue) {
                          using Q = typename decltype(queue)::type;
                          using tuned =
                              funnel::with<funnel::with<funnel::with<funnel::procwire_preset, Q>,
                                                        funnel::condvar_backpressure>,
                                           funnel::coalescing_batcher>;
                          return hana::type_c<tuned>;
                        })),
    hana::concat(kRingPresets, kRingByReference));

// Hands every write call's gather list and result to an observer
// (latency_probe); otherwise the inner sink, unchanged.
template <class Inner, class Observer>
class observed_sink {
 public:
  observed_sink(Inner inner, Observer* observer) : inner_(std::move(inner)), observer_(observer) {}

  absl::StatusOr<std::size_t> write(std::span<const funnel::const_buffer> buffers) {
    absl::StatusOr<std::size_t> n = inner_.write(buffers);
    if (n.ok()) observer_->observe(buffers, *n);
    return n;
  }
  void on_writer_thread_start() requires funnel::sink_with_thread_start<Inner> {
    inner_.on_writer_thread_start();
  }

 private:
  Inner inner_;
  Observer* observer_;
};

// A byte-ring writer's producer that encodes each frame in place.
template <class Handle>
struct in_place_sender {
  Handle h;
  absl::Status send(funnel::outbound_frame&& f) { return h.send(std::move(f)); }
  absl::Status send_in_place(std::uint16_t method, std::uint32_t id,
                             std::span<const std::byte> payload) {
    const funnel::encoded_header hdr =
        funnel::encode_header({method, 0, id, static_cast<std::uint32_t>(payload.size())});
    return h.send_in_place(hdr.size() + payload.size(), [&](std::span<std::byte> out) {
      std::memcpy(out.data(), hdr.data(), hdr.size());
      if (!payload.empty()) std::memcpy(out.data() + hdr.size(), payload.data(), payload.size());
    });
  }
};

// A funnel writer of `Preset` (with a posix_writev_sink on the socket) as
// an implementation; with InPlace (byte rings only), producers encode each
// frame straight into the ring (handle.send_in_place) instead of building an
// outbound_frame.
template <class Preset, bool InPlace = false>
struct funnel_writer {
  template <class Observer, class Body>
  static absl::Status run(int fd, int producers, start_gate& gate, Observer& observer,
                          const Body& body, run_stats& st) {
    if constexpr (std::is_same_v<Observer, no_observer>) {
      return run_with(funnel::posix_writev_sink(fd), producers, gate, body, st);
    } else {
      return run_with(observed_sink<funnel::posix_writev_sink, Observer>(
                          funnel::posix_writev_sink(fd), &observer),
                      producers, gate, body, st);
    }
  }

  template <class Sink, class Body>
  static absl::Status run_with(Sink sink, int producers, start_gate& gate, const Body& body,
                               run_stats& st) {
    using writer_type = funnel::writer_for<funnel::with_sink<Preset, Sink>>;
    writer_type w{std::move(sink), bench_options<Preset>()};
    struct sender {
      typename writer_type::handle_type h;
      absl::Status send(funnel::outbound_frame&& f) { return h.send(std::move(f)); }
    };
    using sender_type =
        std::conditional_t<InPlace, in_place_sender<typename writer_type::handle_type>, sender>;
    absl::Status sent =
        run_producers(producers, gate, body, [&] { return sender_type{w.handle()}; });
    absl::Status closed = w.close();
    const funnel::writer_stats ws = w.stats();
    st.write_calls = ws.write_calls;
    st.backpressure_waits = ws.backpressure_waits;
    if (!sent.ok()) return sent;
    if (!closed.ok()) return closed;
    if (ws.frames_lost != 0) return absl::DataLossError(absl::StrCat(ws.frames_lost, " lost"));
    return absl::OkStatus();
  }
};

// --- the implementation list -----------------------------------------------------------

struct implementation {
  std::string name;
  bool is_limit = false;          // a LIMIT: no producers, throughput mode only
  bool has_writer_thread = true;  // idle mode measures it
  std::function<absl::Status(const bench_case&, int fd, start_gate&, const payload_set&,
                             cpu_account&, run_stats&)>
      throughput;
  // Empty for the LIMITs.
  std::function<absl::Status(const bench_case&, int fd, start_gate&, double rate, latency_probe&,
                             run_stats&)>
      latency;
  std::function<absl::Status(int fd, start_gate&, absl::FunctionRef<void()> while_idle)> idle;
};

implementation make_limit(std::string name,
                          absl::Status (*fn)(const bench_case&, int, start_gate&,
                                             const payload_set&, cpu_account&, run_stats&)) {
  implementation i;
  i.name = std::move(name);
  i.is_limit = true;
  i.has_writer_thread = false;
  i.throughput = fn;
  return i;
}

// Impl::run(fd, producers, gate, observer, body, stats): see mutex_direct.
template <class Impl>
implementation queue_based(std::string name, bool has_writer_thread) {
  implementation i;
  i.name = std::move(name);
  i.has_writer_thread = has_writer_thread;
  i.throughput = [](const bench_case& c, int fd, start_gate& gate, const payload_set& payloads,
                    cpu_account& cpu, run_stats& st) {
    no_observer quiet;
    return Impl::run(fd, c.producers, gate, quiet, throughput_body{c, gate, payloads, cpu}, st);
  };
  i.latency = [](const bench_case& c, int fd, start_gate& gate, double rate, latency_probe& probe,
                 run_stats& st) {
    return Impl::run(fd, c.producers, gate, probe, paced_body{c, gate, rate}, st);
  };
  i.idle = [](int fd, start_gate& gate, absl::FunctionRef<void()> while_idle) {
    no_observer quiet;
    run_stats st;
    return Impl::run(fd, 1, gate, quiet, idle_body{gate, while_idle}, st);
  };
  return i;
}

constexpr std::string_view kLimitWritev = "LIMIT-writev";
constexpr std::string_view kLimitBigcopy = "LIMIT-bigcopy";
constexpr std::string_view kProcwire = "procwire";

std::vector<implementation> all_implementations() {
  std::vector<implementation> impls;
  impls.push_back(make_limit(std::string(kLimitWritev), &limit_writev));
  impls.push_back(make_limit("LIMIT-memcpy", &limit_memcpy));
  impls.push_back(make_limit(std::string(kLimitBigcopy), &limit_bigcopy));
  impls.push_back(queue_based<mutex_direct>("mutex-direct", /*has_writer_thread=*/false));
  impls.push_back(queue_based<naive_thread>("naive-thread", /*has_writer_thread=*/true));
  impls.push_back(queue_based<lanes_thread>("lanes-spsc", /*has_writer_thread=*/true));
  hana::for_each(kPresets, [&](auto preset) {
    using P = typename decltype(preset)::type;
    impls.push_back(queue_based<funnel_writer<P>>(preset_name<P>(), true));
  });
  hana::for_each(kRingPresets, [&](auto preset) {
    using P = typename decltype(preset)::type;
    impls.push_back(
        queue_based<funnel_writer<P, /*InPlace=*/true>>(preset_name<P>() + "+in_place", true));
  });
  return impls;
}

// --- one run -------------------------------------------------------------------------

// An AF_UNIX stream socket pair: [0] is written, [1] is read.
class socket_pair {
 public:
  socket_pair() {
    if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_) != 0) {
      status_ = absl::ErrnoToStatus(errno, "socketpair");
      fds_[0] = fds_[1] = -1;
    }
  }
  socket_pair(const socket_pair&) = delete;
  socket_pair& operator=(const socket_pair&) = delete;
  ~socket_pair() {
    close_writer();
    if (fds_[1] >= 0) ::close(fds_[1]);
  }
  const absl::Status& status() const { return status_; }
  int writer() const { return fds_[0]; }
  int reader() const { return fds_[1]; }
  void close_writer() {
    if (fds_[0] >= 0) ::close(fds_[0]);
    fds_[0] = -1;
  }

 private:
  int fds_[2];
  absl::Status status_;
};

struct throughput_sample {
  double seconds = 0;
  // CPU time from the gate opening to the end, in ns per frame: the whole
  // process; the sending threads (producers, or a LIMIT's thread); the
  // reader; and the rest, which is the writer thread (plus the owner
  // thread's close(), which only waits).
  double cpu_total = 0, cpu_senders = 0, cpu_reader = 0, cpu_writer = 0;
  run_stats st;
};

absl::StatusOr<throughput_sample> run_throughput(const implementation& impl, const bench_case& c,
                                                 bool verify, payload_owner owner) {
  socket_pair sp;
  if (!sp.status().ok()) return sp.status();
  const payload_set payloads(c, owner);
  std::optional<stream_verifier> verifier;
  if (verify) verifier.emplace(c, /*check_payload_bytes=*/true);
  stream_reader reader(sp.reader(), c.wire_bytes(), verifier ? &*verifier : nullptr);
  start_gate gate(impl.is_limit ? 0 : c.producers);
  throughput_sample out;
  cpu_account cpu;
  const absl::Status s = impl.throughput(c, sp.writer(), gate, payloads, cpu, out.st);
  sp.close_writer();  // EOF for the reader
  const stream_reader::result r = reader.join();
  const std::int64_t total = process_cpu_ns() - gate.process_cpu_at_open();
  if (!s.ok()) return s;
  if (!r.error.empty()) return absl::DataLossError(r.error);
  out.seconds = std::chrono::duration<double>(r.last_byte - gate.t0()).count();
  const auto per_frame = [&](std::int64_t ns) {
    return static_cast<double>(ns) / static_cast<double>(c.frames);
  };
  const std::int64_t senders = cpu.senders_ns.load(std::memory_order_relaxed);
  const std::int64_t reader_cpu = r.cpu_ns;  // its blocked wait before the gate costs ~0
  out.cpu_total = per_frame(total);
  out.cpu_senders = per_frame(senders);
  out.cpu_reader = per_frame(reader_cpu);
  out.cpu_writer = std::max(0.0, per_frame(total - senders - reader_cpu));
  return out;
}

struct latency_sample {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;  // microseconds
  run_stats st;
};

absl::StatusOr<latency_sample> run_latency(const implementation& impl, const bench_case& c,
                                           bool verify, double rate) {
  socket_pair sp;
  if (!sp.status().ok()) return sp.status();
  std::optional<stream_verifier> verifier;
  if (verify) verifier.emplace(c, /*check_payload_bytes=*/false);  // payloads carry stamps
  stream_reader reader(sp.reader(), c.wire_bytes(), verifier ? &*verifier : nullptr);
  start_gate gate(c.producers);
  latency_probe probe(c.frames);
  latency_sample out;
  const absl::Status s = impl.latency(c, sp.writer(), gate, rate, probe, out.st);
  sp.close_writer();
  const stream_reader::result r = reader.join();
  if (!s.ok()) return s;
  if (!r.error.empty()) return absl::DataLossError(r.error);
  if (probe.samples().size() != c.frames) {
    return absl::InternalError(
        absl::StrCat("latency probe saw ", probe.samples().size(), " frames, expected ", c.frames));
  }
  std::vector<double> us;
  us.reserve(probe.samples().size());
  for (std::int64_t ns : probe.samples()) us.push_back(static_cast<double>(ns) / 1e3);
  out.p50 = quantile(us, 0.50);
  out.p99 = quantile(us, 0.99);
  out.p999 = quantile(us, 0.999);
  out.max = us.back();  // sorted by quantile()
  return out;
}

struct idle_sample {
  double cpu_ms_per_s = 0;
  double switches_per_s = 0;
};

absl::StatusOr<idle_sample> run_idle(const implementation& impl, double seconds) {
  socket_pair sp;
  if (!sp.status().ok()) return sp.status();
  const bench_case one{16, 1, 1};
  stream_reader reader(sp.reader(), one.wire_bytes(), nullptr);
  start_gate gate(1);
  idle_sample out;
  std::string problem;
  auto while_idle = [&] {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (reader.bytes_so_far() < one.wire_bytes() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    if (reader.bytes_so_far() < one.wire_bytes()) {
      problem = "the one frame did not arrive within 5 s";
      return;
    }
    absl::SleepFor(absl::Milliseconds(20));  // let the writer go back to sleep
    rusage before, after;
    ::getrusage(RUSAGE_SELF, &before);
    const absl::Time start = absl::Now();
    absl::SleepFor(absl::Seconds(seconds));
    ::getrusage(RUSAGE_SELF, &after);
    const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
    auto us = [](const timeval& t) { return t.tv_sec * 1e6 + static_cast<double>(t.tv_usec); };
    const double cpu_us =
        us(after.ru_utime) - us(before.ru_utime) + us(after.ru_stime) - us(before.ru_stime);
    const double switches =
        static_cast<double>(after.ru_nvcsw - before.ru_nvcsw + after.ru_nivcsw - before.ru_nivcsw);
    out.cpu_ms_per_s = cpu_us / 1e3 / elapsed;
    out.switches_per_s = switches / elapsed;
  };
  const absl::Status s = impl.idle(sp.writer(), gate, while_idle);
  sp.close_writer();
  const stream_reader::result r = reader.join();
  if (!s.ok()) return s;
  if (!problem.empty()) return absl::DeadlineExceededError(problem);
  if (!r.error.empty()) return absl::DataLossError(r.error);
  return out;
}

// --- configuration ------------------------------------------------------------------

struct settings {
  int reps = 5;
  int warmup = 1;
  bool verify = false;
  payload_owner owner = payload_owner::kShared;
  double rate = 100000;
  double latency_seconds = 1;
  double idle_seconds = 1;
  std::int64_t frames = 0;  // 0: automatic
};

absl::StatusOr<std::vector<bench_case>> parse_cases(absl::string_view list) {
  std::vector<bench_case> cases;
  for (absl::string_view item : absl::StrSplit(list, ',', absl::SkipWhitespace())) {
    std::vector<absl::string_view> parts = absl::StrSplit(item, 'x');
    std::int64_t payload = 0;
    int producers = 0;
    if (parts.size() != 2 || !absl::SimpleAtoi(parts[0], &payload) ||
        !absl::SimpleAtoi(parts[1], &producers) || payload < 0 ||
        payload > funnel::kDefaultMaxPayload || producers < 1 || producers > 1000) {
      return absl::InvalidArgumentError(
          absl::StrCat("bad case \"", item, "\": want PAYLOADxPRODUCERS, e.g. 16x4"));
    }
    cases.push_back({static_cast<std::size_t>(payload), producers, 0});
  }
  if (cases.empty()) return absl::InvalidArgumentError("no cases");
  return cases;
}

std::uint64_t auto_throughput_frames(const bench_case& c) {
  constexpr std::uint64_t kBytes = 512ull << 20;
  return std::clamp<std::uint64_t>(kBytes / c.wire_size(), 20'000, 2'000'000);
}

bool selected(const std::string& name, const std::vector<std::string>& filters) {
  if (filters.empty()) return true;
  for (const std::string& f : filters) {
    if (f.front() == '=' ? name == f.substr(1) : name.find(f) != std::string::npos) return true;
  }
  return false;
}

std::string describe(const bench_case& c, const settings& s) {
  return absl::StrFormat(
      "%d B payload, %d producer%s: %d frames (%.1f MB on the wire) per run, median of %d "
      "run%s\n\nmin-max: Mframes/s of the slowest and fastest run. CPU: CPU time of the whole "
      "process per frame, ns (median), split into the sending threads (producers, or the "
      "LIMIT's thread), the writer thread (the rest) and the reader. f/write: frames per "
      "write call. xLIMIT, xBIG, xprocwire: median frames/s over that of LIMIT-writev, "
      "LIMIT-bigcopy, procwire in the same runs.",
      c.payload, c.producers, c.producers == 1 ? "" : "s", c.frames,
      static_cast<double>(c.wire_bytes()) / 1e6, s.reps, s.reps == 1 ? "" : "s");
}

std::string ratio(double value, std::optional<double> base) {
  if (!base || *base <= 0) return "-";
  return absl::StrFormat("%.2fx", value / *base);
}

double median(std::vector<double> v) { return quantile(v, 0.5); }

// --- the modes ---------------------------------------------------------------------------

// Runs every (implementation, repetition) of each case, repetitions
// interleaved; prints one table per case. Returns the number of failures.
int throughput_mode(const std::vector<const implementation*>& impls, std::vector<bench_case> cases,
                    const settings& s) {
  int failures = 0;
  for (bench_case& c : cases) {
    c.frames = s.frames > 0 ? static_cast<std::uint64_t>(s.frames) : auto_throughput_frames(c);
    std::vector<std::vector<throughput_sample>> samples(impls.size());
    for (int rep = -s.warmup; rep < s.reps; ++rep) {
      for (std::size_t i = 0; i < impls.size(); ++i) {
        absl::StatusOr<throughput_sample> r = run_throughput(*impls[i], c, s.verify, s.owner);
        if (!r.ok()) {
          absl::FPrintF(stderr, "FAIL: %s, %dx%d: %s\n", impls[i]->name, c.payload, c.producers,
                        r.status().ToString());
          ++failures;
          continue;
        }
        if (rep >= 0) samples[i].push_back(*r);
      }
    }
    std::vector<double> rates(impls.size(), 0);
    for (std::size_t i = 0; i < impls.size(); ++i) {
      std::vector<double> fps;
      for (const throughput_sample& t : samples[i]) fps.push_back(c.frames / t.seconds);
      if (!fps.empty()) rates[i] = median(fps);
    }
    auto rate_of = [&](std::string_view name) -> std::optional<double> {
      for (std::size_t i = 0; i < impls.size(); ++i) {
        if (impls[i]->name == name && rates[i] > 0) return rates[i];
      }
      return std::nullopt;
    };
    const std::optional<double> limit = rate_of(kLimitWritev), big = rate_of(kLimitBigcopy),
                                procwire = rate_of(kProcwire);
    absl::PrintF("\n### %s\n\n", describe(c, s));
    absl::PrintF("| %-40s | %9s | %7s | %-11s | %6s | %6s | %9s | %5s | %-13s | %7s |\n",
                 "implementation", "Mframes/s", "MB/s", "min-max", "xLIMIT", "xBIG", "xprocwire",
                 "CPU", "send+wrt+read", "f/write");
    absl::PrintF("|%s|%s:|%s:|%s|%s:|%s:|%s:|%s:|%s|%s:|\n", std::string(42, '-'),
                 std::string(10, '-'), std::string(8, '-'), std::string(13, '-'),
                 std::string(7, '-'), std::string(7, '-'), std::string(10, '-'),
                 std::string(6, '-'), std::string(15, '-'), std::string(8, '-'));
    for (std::size_t i = 0; i < impls.size(); ++i) {
      if (samples[i].empty()) {
        absl::PrintF("| %-40s | %9s | %7s | %-11s | %6s | %6s | %9s | %5s | %-13s | %7s |\n",
                     impls[i]->name, "failed", "", "", "", "", "", "", "", "");
        continue;
      }
      double lo = 1e300, hi = 0, calls = 0;
      std::vector<double> total, senders, writer, reader;
      for (const throughput_sample& t : samples[i]) {
        lo = std::min(lo, c.frames / t.seconds);
        hi = std::max(hi, c.frames / t.seconds);
        calls += static_cast<double>(t.st.write_calls);
        total.push_back(t.cpu_total);
        senders.push_back(t.cpu_senders);
        writer.push_back(t.cpu_writer);
        reader.push_back(t.cpu_reader);
      }
      calls /= static_cast<double>(samples[i].size());
      const double fps = rates[i];
      absl::PrintF(
          "| %-40s | %9.3f | %7.1f | %-11s | %6s | %6s | %9s | %5.0f | %-13s | %7s |\n",
          impls[i]->name, fps / 1e6, fps * static_cast<double>(c.wire_size()) / 1e6,
          absl::StrFormat("%.2f-%.2f", lo / 1e6, hi / 1e6), ratio(fps, limit), ratio(fps, big),
          ratio(fps, procwire), median(total),
          absl::StrFormat("%.0f+%.0f+%.0f", median(senders), median(writer), median(reader)),
          calls > 0 ? absl::StrFormat("%.1f", static_cast<double>(c.frames) / calls)
                    : std::string("-"));
    }
    std::fflush(stdout);
  }
  return failures;
}

int latency_mode(const std::vector<const implementation*>& all, std::vector<bench_case> cases,
                 const settings& s) {
  std::vector<const implementation*> impls;
  for (const implementation* i : all) {
    if (i->latency) impls.push_back(i);
  }
  int failures = 0;
  for (bench_case& c : cases) {
    if (c.payload < 8) {
      absl::FPrintF(stderr, "FAIL: latency mode needs a payload of at least 8 bytes (%dx%d)\n",
                    c.payload, c.producers);
      ++failures;
      continue;
    }
    c.frames = s.frames > 0 ? static_cast<std::uint64_t>(s.frames)
                            : static_cast<std::uint64_t>(s.rate * s.latency_seconds);
    c.frames = std::max<std::uint64_t>(c.frames, static_cast<std::uint64_t>(c.producers));
    std::vector<std::vector<latency_sample>> samples(impls.size());
    for (int rep = -s.warmup; rep < s.reps; ++rep) {
      for (std::size_t i = 0; i < impls.size(); ++i) {
        absl::StatusOr<latency_sample> r = run_latency(*impls[i], c, s.verify, s.rate);
        if (!r.ok()) {
          absl::FPrintF(stderr, "FAIL: latency %s, %dx%d: %s\n", impls[i]->name, c.payload,
                        c.producers, r.status().ToString());
          ++failures;
          continue;
        }
        if (rep >= 0) samples[i].push_back(*r);
      }
    }
    absl::PrintF(
        "\n### latency, %d B payload, %d producer%s, %.0f frames/s offered: %d frames "
        "per run, median of %d run%s (microseconds, enqueue -> end of the write call)\n\n",
        c.payload, c.producers, c.producers == 1 ? "" : "s", s.rate, c.frames, s.reps,
        s.reps == 1 ? "" : "s");
    absl::PrintF("| %-40s | %8s | %8s | %8s | %9s | %12s |\n", "implementation", "p50", "p99",
                 "p99.9", "max", "frames/write");
    absl::PrintF("|%s|%s:|%s:|%s:|%s:|%s:|\n", std::string(42, '-'), std::string(9, '-'),
                 std::string(9, '-'), std::string(9, '-'), std::string(10, '-'),
                 std::string(13, '-'));
    for (std::size_t i = 0; i < impls.size(); ++i) {
      if (samples[i].empty()) {
        absl::PrintF("| %-40s | %8s | %8s | %8s | %9s | %12s |\n", impls[i]->name, "failed", "", "",
                     "", "");
        continue;
      }
      std::vector<double> p50, p99, p999;
      double mx = 0, calls = 0;
      for (const latency_sample& l : samples[i]) {
        p50.push_back(l.p50);
        p99.push_back(l.p99);
        p999.push_back(l.p999);
        mx = std::max(mx, l.max);
        calls += static_cast<double>(l.st.write_calls);
      }
      calls /= static_cast<double>(samples[i].size());
      absl::PrintF("| %-40s | %8.1f | %8.1f | %8.1f | %9.1f | %12s |\n", impls[i]->name,
                   median(p50), median(p99), median(p999), mx,
                   calls > 0 ? absl::StrFormat("%.2f", static_cast<double>(c.frames) / calls)
                             : std::string("-"));
    }
    std::fflush(stdout);
  }
  return failures;
}

int idle_mode(const std::vector<const implementation*>& all, const settings& s) {
  int failures = 0;
  absl::PrintF(
      "\n### idle: one frame written, then nothing for %.1f s (whole process: writer, "
      "blocked reader, sleeping main thread)\n\n",
      s.idle_seconds);
  absl::PrintF("| %-40s | %14s | %18s |\n", "implementation", "CPU ms per s", "context switches/s");
  absl::PrintF("|%s|%s:|%s:|\n", std::string(42, '-'), std::string(16, '-'), std::string(20, '-'));
  for (const implementation* impl : all) {
    if (!impl->has_writer_thread) continue;
    absl::StatusOr<idle_sample> r = run_idle(*impl, s.idle_seconds);
    if (!r.ok()) {
      absl::FPrintF(stderr, "FAIL: idle %s: %s\n", impl->name, r.status().ToString());
      ++failures;
      continue;
    }
    absl::PrintF("| %-40s | %14.3f | %18.1f |\n", impl->name, r->cpu_ms_per_s, r->switches_per_s);
    std::fflush(stdout);
  }
  return failures;
}

}  // namespace
}  // namespace funnel_bench

int main(int argc, char** argv) {
  using namespace funnel_bench;
  absl::SetProgramUsageMessage(
      "Measures funnel writers against baselines on an AF_UNIX socket pair.\n"
      "  throughput [--mode=throughput|latency|idle|all] [--cases=16x1,16x4] [--reps=5]\n"
      "             [--frames=N] [--impl=LIMIT,procwire] [--verify]");
  absl::ParseCommandLine(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);  // a failed reader must not kill the baselines' writev

  const std::vector<implementation> impls = all_implementations();
  if (absl::GetFlag(FLAGS_list)) {
    for (const implementation& i : impls) absl::PrintF("%s\n", i.name);
    return 0;
  }
  std::vector<std::string> filters =
      absl::StrSplit(absl::GetFlag(FLAGS_impl), ',', absl::SkipWhitespace());
  std::vector<const implementation*> chosen;
  for (const implementation& i : impls) {
    if (selected(i.name, filters)) chosen.push_back(&i);
  }
  if (chosen.empty()) {
    absl::FPrintF(stderr, "throughput: --impl=%s matches no implementation (see --list)\n",
                  absl::GetFlag(FLAGS_impl));
    return 2;
  }

  settings s;
  s.reps = absl::GetFlag(FLAGS_reps);
  s.warmup = absl::GetFlag(FLAGS_warmup);
  s.verify = absl::GetFlag(FLAGS_verify);
  s.rate = absl::GetFlag(FLAGS_rate);
  s.latency_seconds = absl::GetFlag(FLAGS_latency_seconds);
  s.idle_seconds = absl::GetFlag(FLAGS_idle_seconds);
  s.frames = absl::GetFlag(FLAGS_frames);
  const std::string owner = absl::GetFlag(FLAGS_payload_owner);
  if (owner == "static") {
    s.owner = payload_owner::kStatic;
  } else if (owner != "shared") {
    absl::FPrintF(stderr, "throughput: --payload_owner must be shared or static\n");
    return 2;
  }
  if (s.reps < 1 || s.warmup < 0 || s.rate <= 0 || s.latency_seconds <= 0 || s.idle_seconds <= 0 ||
      s.frames < 0 || s.frames > UINT32_MAX) {
    absl::FPrintF(stderr, "throughput: flag out of range (see --help)\n");
    return 2;
  }

  const std::string mode = absl::GetFlag(FLAGS_mode);
  const bool all = mode == "all";
  if (!all && mode != "throughput" && mode != "latency" && mode != "idle") {
    absl::FPrintF(stderr, "throughput: --mode must be throughput, latency, idle or all\n");
    return 2;
  }
  auto cases_for = [&](absl::string_view fallback) -> absl::StatusOr<std::vector<bench_case>> {
    const std::int64_t payload = absl::GetFlag(FLAGS_payload);
    const int producers = absl::GetFlag(FLAGS_producers);
    if (payload >= 0 || producers > 0) {
      return parse_cases(
          absl::StrCat(payload >= 0 ? payload : 16, "x", producers > 0 ? producers : 1));
    }
    const std::string list = absl::GetFlag(FLAGS_cases);
    return parse_cases(list.empty() ? fallback : list);
  };

  absl::PrintF("funnel //bench:throughput, mode %s, payload owner %s%s\n", mode, owner,
               s.verify ? ", --verify (timings not representative)" : "");
  int failures = 0;
  if (all || mode == "throughput") {
    absl::StatusOr<std::vector<bench_case>> cases = cases_for("16x1,16x4,256x1,1024x1,65536x1");
    if (!cases.ok()) {
      absl::FPrintF(stderr, "throughput: %s\n", cases.status().message());
      return 2;
    }
    failures += throughput_mode(chosen, *cases, s);
  }
  if (all || mode == "latency") {
    absl::StatusOr<std::vector<bench_case>> cases = cases_for("16x1,16x4,1024x1");
    if (!cases.ok()) {
      absl::FPrintF(stderr, "throughput: %s\n", cases.status().message());
      return 2;
    }
    failures += latency_mode(chosen, *cases, s);
  }
  if (all || mode == "idle") failures += idle_mode(chosen, s);

  if (failures != 0) {
    absl::FPrintF(stderr, "throughput: %d run(s) FAILED\n", failures);
    return 1;
  }
  return 0;
}
