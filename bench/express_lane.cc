// bench/express_lane.cc: how long an ABORT waits behind bulk frames, with and
// without the express lane (issue 11).
//
//   bazel run -c opt //bench:express_lane                  # 5 interleaved pairs
//   bazel run //bench:express_lane -- --frames=64 --reps=1 --verify   # CI: a quick check
//
// Each run: a procwire writer (the procwire preset's policies: mpsc_ring,
// posix_writev_sink, sleep_backpressure, batches of 64 frames) on an AF_UNIX
// socket pair whose reader is slow (reads --read_chunk bytes, then sleeps
// --read_sleep_us). The producer queues --frames bulk frames of --payload
// bytes, then sends one ABORT (method 0xFFFF):
//   before: with send(), through the bulk queue, behind every bulk frame;
//   after:  with send_express(), through the express lane.
// The ABORT goes once the reader has read its first bytes (the writer is then
// inside its first batch's write, the rest queued behind it). The reader
// parses the stream and records when the ABORT's header arrives (from just
// before the ABORT's send call) and how many stream bytes arrived
// ahead of it: in all, and after the send call. Once the ABORT is in, the
// reader drains the rest at full speed. Runs of the two kinds alternate; the
// table gives min / median / max of each and the ratio of the medians (same
// run, same machine). --verify checks that every frame arrived exactly once
// in order (bulk ids 0..frames-1 and the ABORT where its lane puts it).
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "funnel/bytes.h"
#include "funnel/procwire/frame.h"
#include "funnel/procwire/preset.h"

ABSL_FLAG(int, frames, 1024, "bulk frames queued ahead of the ABORT");
ABSL_FLAG(int, payload, 64 * 1024, "bulk payload bytes per frame");
ABSL_FLAG(int, reps, 5, "runs of each kind (interleaved)");
ABSL_FLAG(int, read_chunk, 64 * 1024, "slow reader: bytes per read()");
ABSL_FLAG(int, read_sleep_us, 1000, "slow reader: sleep after each read, microseconds");
ABSL_FLAG(bool, verify, false, "check every frame arrived exactly once; any failure is fatal");

namespace {

using clock_type = std::chrono::steady_clock;

struct sample {
  double ms = 0;                       // ABORT send call -> its header parsed by the reader
  std::uint64_t bytes_ahead = 0;       // stream bytes before the ABORT
  std::uint64_t bytes_after_send = 0;  // of those, read after the send call
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "express_lane: %s\n", what.c_str());
  std::exit(1);
}

// Parses procwire frames from a byte stream, chunk by chunk, without copying
// payloads: only headers are assembled.
class stream_parser {
 public:
  // Calls on_frame(header, stream offset of the frame) per frame header.
  template <class OnFrame>
  void feed(const unsigned char* p, std::size_t n, OnFrame&& on_frame) {
    while (n > 0) {
      if (skip_ > 0) {
        const std::size_t k = std::min<std::uint64_t>(skip_, n);
        skip_ -= k, p += k, n -= k, offset_ += k;
        continue;
      }
      const std::size_t k = std::min(n, funnel::kHeaderSize - have_);
      std::copy(p, p + k, reinterpret_cast<unsigned char*>(header_.data()) + have_);
      have_ += k, p += k, n -= k, offset_ += k;
      if (have_ < funnel::kHeaderSize) continue;
      have_ = 0;
      absl::StatusOr<funnel::frame_header> h = funnel::decode_header(header_);
      if (!h.ok()) die("bad header: " + std::string(h.status().message()));
      on_frame(*h, offset_ - funnel::kHeaderSize);
      skip_ = h->payload_length;
    }
  }

 private:
  funnel::encoded_header header_{};
  std::size_t have_ = 0;
  std::uint64_t skip_ = 0;
  std::uint64_t offset_ = 0;
};

sample run_once(bool express, int frames, const funnel::bytes& payload, bool verify) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0) die("socketpair failed");
  const int chunk = absl::GetFlag(FLAGS_read_chunk);
  const auto nap = std::chrono::microseconds(absl::GetFlag(FLAGS_read_sleep_us));

  std::atomic<std::uint64_t> read_total{0};  // relaxed: a progress figure
  std::atomic<bool> sent{false};             // release/acquire: send_time below
  clock_type::time_point send_time;
  sample s;
  std::thread reader([&] {
    std::vector<unsigned char> buf(static_cast<std::size_t>(chunk));
    stream_parser parser;
    bool seen_abort = false;
    std::uint32_t next_bulk = 0;
    for (;;) {
      const ssize_t n = ::read(fds[0], buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0) {
        if (errno == EINTR) continue;
        die("read failed");
      }
      parser.feed(
          buf.data(), static_cast<std::size_t>(n),
          [&](const funnel::frame_header& h, std::uint64_t at) {
            if (h.method_id == funnel::kAbortMethodId) {
              if (seen_abort) die("the ABORT arrived twice");
              seen_abort = true;
              if (!sent.load(std::memory_order_acquire)) die("ABORT before its send");
              s.ms =
                  std::chrono::duration<double, std::milli>(clock_type::now() - send_time).count();
              s.bytes_ahead = at;
              return;
            }
            if (verify && h.request_id != next_bulk) {
              die(absl::StrFormat("bulk frame %u arrived where %u was due", h.request_id,
                                  next_bulk));
            }
            ++next_bulk;
          });
      read_total.fetch_add(static_cast<std::uint64_t>(n), std::memory_order_relaxed);
      if (!seen_abort) std::this_thread::sleep_for(nap);  // slow until the ABORT is in
    }
    if (!seen_abort) die("the ABORT never arrived");
    if (next_bulk != static_cast<std::uint32_t>(frames)) {
      die(absl::StrFormat("%u of %d bulk frames arrived", next_bulk, frames));
    }
  });

  funnel::writer_options o;
  o.max_pending_frames = static_cast<std::size_t>(frames) + 1;  // no send waits for budget
  o.backpressure_timeout = absl::InfiniteDuration();
  std::uint64_t read_at_send = 0;
  {
    funnel::procwire_writer w{funnel::posix_writev_sink(fds[1]), o};
    auto h = w.handle();
    for (int i = 0; i < frames; ++i) {
      absl::Status st =
          h.send(funnel::outbound_frame::make(1, 0, static_cast<std::uint32_t>(i), payload));
      if (!st.ok()) die("bulk send: " + st.ToString());
    }
    absl::StatusOr<funnel::outbound_frame> abort =
        funnel::outbound_frame::make(funnel::kAbortMethodId, 0, 0, funnel::bytes());
    // The slow reader has started: the writer is inside its first batch's
    // write, the rest queued behind it (the situation the lane is for).
    while (read_total.load(std::memory_order_relaxed) == 0) std::this_thread::yield();
    read_at_send = read_total.load(std::memory_order_relaxed);
    send_time = clock_type::now();
    sent.store(true, std::memory_order_release);
    absl::Status st = express ? h.send_express(*std::move(abort)) : h.send(*std::move(abort));
    if (!st.ok()) die("ABORT send: " + st.ToString());
    if (absl::Status c = w.close(); !c.ok()) die("close: " + c.ToString());
  }
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);
  s.bytes_after_send = s.bytes_ahead > read_at_send ? s.bytes_ahead - read_at_send : 0;
  return s;
}

void row(const char* name, std::vector<double> v, const char* unit) {
  std::sort(v.begin(), v.end());
  std::printf("  %-28s min %12.1f  median %12.1f  max %12.1f %s\n", name, v.front(),
              v[v.size() / 2], v.back(), unit);
}
void row(const char* name, const std::vector<std::uint64_t>& u, const char* unit) {
  std::vector<double> v(u.begin(), u.end());
  for (double& x : v) x /= 1024;
  row(name, std::move(v), unit);
}

template <class T>
double median(std::vector<T> v) {
  std::sort(v.begin(), v.end());
  return static_cast<double>(v[v.size() / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int frames = absl::GetFlag(FLAGS_frames);
  const int reps = absl::GetFlag(FLAGS_reps);
  const int payload_size = absl::GetFlag(FLAGS_payload);
  const bool verify = absl::GetFlag(FLAGS_verify);
  if (frames < 1 || reps < 1 || payload_size < 0 || absl::GetFlag(FLAGS_read_chunk) < 1) {
    die("flag out of range");
  }
  const funnel::bytes payload =
      funnel::bytes::copy_from(std::string(static_cast<std::size_t>(payload_size), 'x'));
  std::printf(
      "express_lane: %d bulk frames of %d B queued, then one ABORT; reader: %d B per read, %d us "
      "sleep; %d interleaved runs of each%s\n",
      frames, payload_size, absl::GetFlag(FLAGS_read_chunk), absl::GetFlag(FLAGS_read_sleep_us),
      reps, verify ? ", --verify" : "");
  std::vector<double> ms[2];
  std::vector<std::uint64_t> ahead[2], after[2];
  for (int r = 0; r < reps; ++r) {
    for (int kind = 0; kind < 2; ++kind) {
      const bool express = (r % 2 == 0) ? kind == 1 : kind == 0;  // alternate which goes first
      const sample s = run_once(express, frames, payload, verify);
      ms[express].push_back(s.ms);
      ahead[express].push_back(s.bytes_ahead);
      after[express].push_back(s.bytes_after_send);
    }
  }
  const char* names[2] = {"before (send, bulk queue)", "after (send_express)"};
  for (int k = 0; k < 2; ++k) {
    std::printf("%s\n", names[k]);
    row("ABORT send -> arrival", ms[k], "ms");
    row("bytes ahead of the ABORT", ahead[k], "KiB");
    row("  of which read after send", after[k], "KiB");
  }
  std::printf("ratio before/after (medians): time %.1fx, bytes ahead %.1fx\n",
              median(ms[0]) / std::max(median(ms[1]), 1e-9),
              median(ahead[0]) / std::max(median(ahead[1]), 1.0));
  return 0;
}
