// bench/water_marks.cc: condvar_backpressure's low-water mark, measured.
//
//   bazel run -c opt //bench:water_marks                 # the tables
//   bazel run //bench:water_marks -- --frames=2000 --reps=1 --verify   # CI smoke run
//
// Four producers send as fast as they can through a writer at its bound
// (1024 frames), so they wait on the condvar almost all the time. Each
// configuration differs only in the water mark: 1 (the default: waiters are
// woken after every batch), 1/2 and 1/4 of the bound. Per run: throughput,
// wake-ups per frame (a producer returning from a sleep, counted by the
// policy), backpressure waits per frame and frames per batch. The
// configurations run interleaved, rep after rep, so each ratio to "every
// batch" is taken within one rep (same machine state); the table shows the
// median and min-max of those ratios.
//
// Two writers: mpsc_ring + coalescing_batcher (frame objects) and byte_ring
// + a 256 KiB byte batcher (the ring's bound is its records and bytes).
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/harness.h"
#include "funnel/basic_writer.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/policies/batcher/coalescing_batcher.h"
#include "funnel/policies/queue/byte_ring.h"
#include "funnel/policies/queue/mpsc_ring.h"
#include "funnel/policies/sink/posix_writev_sink.h"

namespace funnel_bench {
namespace {

// condvar_backpressure behind a shared_ptr, so the run can read its wake-up
// count after the writer (which owns its policy) is gone. Every
// configuration pays the same indirection.
struct shared_condvar {
  std::shared_ptr<funnel::condvar_backpressure> b =
      std::make_shared<funnel::condvar_backpressure>();
  shared_condvar() = default;
  explicit shared_condvar(double low)
      : b(std::make_shared<funnel::condvar_backpressure>(
            funnel::condvar_backpressure::config{.low_water = low})) {}
  bool wait(absl::FunctionRef<bool()> ready, absl::Time d) { return b->wait(ready, d); }
  void notify() noexcept { b->notify(); }
  void notify(const funnel::pending_level& l) noexcept { b->notify(l); }
};

struct wide_batcher : funnel::byte_batcher {
  wide_batcher() : funnel::byte_batcher(256 * 1024, std::size_t{1} << 20) {}
};

using frame_writer =
    funnel::basic_writer<funnel::mpsc_ring<funnel::outbound_frame>, funnel::posix_writev_sink,
                         shared_condvar, funnel::coalescing_batcher>;
using ring_writer = funnel::basic_writer<funnel::byte_ring<funnel::outbound_frame>,
                                         funnel::posix_writev_sink, shared_condvar, wide_batcher>;

struct sample {
  double mframes_per_s = 0, wakeups_per_frame = 0, waits_per_frame = 0, frames_per_batch = 0;
};

template <class Writer>
absl::StatusOr<sample> run_once(const bench_case& c, double low_water, bool verify) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) {
    return absl::ErrnoToStatus(errno, "socketpair");
  }
  const payload_set payloads(c, payload_owner::kShared);
  std::optional<stream_verifier> verifier;
  if (verify) verifier.emplace(c, /*check_payload_bytes=*/true);
  stream_reader reader(fds[1], c.wire_bytes(), verifier ? &*verifier : nullptr);
  start_gate gate(c.producers);
  cpu_account cpu;
  shared_condvar bp(low_water);
  auto policy = bp.b;  // read after the writer is gone
  funnel::writer_stats st;
  absl::Status s;
  {
    Writer w(funnel::posix_writev_sink(fds[0]), {}, bp);
    s = run_producers(c.producers, gate, throughput_body{c, gate, payloads, cpu},
                      [&] { return w.handle(); });
    if (absl::Status closed = w.close(); s.ok()) s = closed;
    st = w.stats();
  }
  ::close(fds[0]);
  const stream_reader::result r = reader.join();
  ::close(fds[1]);
  if (!s.ok()) return s;
  if (!r.error.empty()) return absl::DataLossError(r.error);
  const double seconds = std::chrono::duration<double>(r.last_byte - gate.t0()).count();
  const auto frames = static_cast<double>(c.frames);
  return sample{frames / seconds / 1e6, static_cast<double>(policy->wakeups()) / frames,
                static_cast<double>(st.backpressure_waits) / frames,
                st.batches == 0 ? 0 : frames / static_cast<double>(st.batches)};
}

struct config {
  const char* name;
  double low_water;
};
constexpr config kConfigs[] = {
    {"every batch (1)", 1.0}, {"low water 1/2", 0.5}, {"low water 1/4", 0.25}};

double median_of(std::vector<double> v) { return quantile(v, 0.5); }
std::string range_of(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return absl::StrFormat("%.2f-%.2f", v.front(), v.back());
}

template <class Writer>
int run_table(const char* writer_name, const bench_case& c, int reps, bool verify) {
  constexpr std::size_t n = std::size(kConfigs);
  std::vector<std::vector<sample>> got(n);
  for (int rep = 0; rep < reps + 1; ++rep) {  // rep 0 warms up
    for (std::size_t i = 0; i < n; ++i) {
      absl::StatusOr<sample> s = run_once<Writer>(c, kConfigs[i].low_water, verify);
      if (!s.ok()) {
        std::fprintf(stderr, "%s, %s: %s\n", writer_name, kConfigs[i].name,
                     s.status().ToString().c_str());
        return 1;
      }
      if (rep > 0) got[i].push_back(*s);
    }
  }
  std::printf("\n%s, %zu B x %d producers, %llu frames, %d interleaved reps\n", writer_name,
              c.payload, c.producers, static_cast<unsigned long long>(c.frames), reps);
  std::printf("%-16s %10s %13s %16s %13s %12s %12s\n", "wake-up", "Mframes/s", "(min-max)",
              "x every batch", "(min-max)", "wakeups/fr", "frames/batch");
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<double> rate, ratio, wake, waits, per_batch;
    for (std::size_t k = 0; k < got[i].size(); ++k) {
      rate.push_back(got[i][k].mframes_per_s);
      ratio.push_back(got[i][k].mframes_per_s / got[0][k].mframes_per_s);
      wake.push_back(got[i][k].wakeups_per_frame);
      waits.push_back(got[i][k].waits_per_frame);
      per_batch.push_back(got[i][k].frames_per_batch);
    }
    std::printf("%-16s %10.2f %13s %16.2f %13s %12.4f %12.1f\n", kConfigs[i].name, median_of(rate),
                range_of(rate).c_str(), median_of(ratio), range_of(ratio).c_str(), median_of(wake),
                median_of(per_batch));
  }
  return 0;
}

int main_impl(int argc, char** argv) {
  std::uint64_t frames = 0;
  int reps = 5;
  bool verify = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a.rfind("--frames=", 0) == 0) {
      frames = std::strtoull(argv[i] + 9, nullptr, 10);
    } else if (a.rfind("--reps=", 0) == 0) {
      reps = std::atoi(argv[i] + 7);
    } else if (a == "--verify") {
      verify = true;
    } else {
      std::fprintf(stderr, "usage: water_marks [--frames=N] [--reps=R] [--verify]\n");
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  for (const bench_case base : {bench_case{.payload = 16, .producers = 4, .frames = 2'000'000},
                                bench_case{.payload = 1024, .producers = 4, .frames = 400'000}}) {
    bench_case c = base;
    if (frames != 0) c.frames = frames;
    if (run_table<frame_writer>("mpsc_ring + coalescing", c, reps, verify) != 0) return 1;
    if (run_table<ring_writer>("byte_ring + bytes256k", c, reps, verify) != 0) return 1;
  }
  return 0;
}

}  // namespace
}  // namespace funnel_bench

int main(int argc, char** argv) { return funnel_bench::main_impl(argc, argv); }
