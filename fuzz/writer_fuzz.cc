// fuzz/writer_fuzz.cc: libFuzzer target for basic_writer under a fuzzed
// schedule of sends, try_sends, flushes, sink faults and close, driven from
// one thread (the writer thread runs, but fuzz/gated_queue.h lets it take
// frames only at a barrier, so every iteration is deterministic).
//
// The sink is the testing kit's fault_injecting_sink (funnel/testing/
// fault_sink.h) over a memory_sink, with a fuzzed script: passes, short
// writes, random short writes, a hard failure, a failure after N bytes;
// wrapped in boundary_fault_sink, which can fail exactly at the end of a
// chosen frame (where written and lost frames divide).
//
// The model: the frames accepted so far (their wire bytes in order), the
// pending frames and bytes since the last barrier, and whether the writer is
// open, closed or failed. Checked at every step:
//   * each send/try_send returns what the model says: OK; ResourceExhausted
//     (try_send) or DeadlineExceeded (send, backpressure_timeout 0) exactly
//     at the frame or byte bound, or with drop_newest_backpressure OK and the
//     frame counted dropped (and absent from the stream) exactly there;
//     InvalidArgument for a frame larger than
//     max_pending_bytes; FailedPrecondition after close; Unavailable naming
//     the injected fault after a failure;
//   * a barrier (release the gate, flush()) writes everything (stats,
//     pending_count, the sink's bytes equal the model's) or reports the
//     injected failure;
// and after close():
//   * frames_accepted == the model's count == frames_written + frames_lost +
//     frames_dropped, and frames_dropped is the model's count of drops;
//   * the sink's bytes are a prefix of the model's stream, as long as
//     bytes_written; they decode to exactly frames_written whole frames (the
//     first frames accepted, so every producer's frames are a prefix of what
//     it sent) plus at most a partial next frame;
//   * close() is OK exactly when nothing was lost; a fault-free script never
//     loses anything; close() again returns the same; sends then fail.
//
// Input layout (fuzz/fuzz_input.h):
//   u8  policies    bits 0-1 queue, 2-3 backpressure, 4-5 batcher; bit 6:
//                   drop_newest_backpressure instead of bits 2-3's choice
//   u8  a, u16 b    batcher parameters (fuzz/policy_choice.h)
//   u8  frames      max_pending_frames = 1 + frames % 16
//   u16 bytes       max_pending_bytes = bytes % 2048 (0: no byte bound)
//   u8  cap         memory_sink max_bytes_per_write (0: unlimited)
//   u8  n           n & 7 fault script entries, each u8 kind + arguments:
//                   0 pass, 1 short_write(u8), 2 fail, 3 fail_after_bytes(u16),
//                   4 short_writes(u8), 5 random_short_writes(u8 seed, u8 k)
//   u8  boundary    bit 7 set: fail exactly at the end of accepted frame
//                   number (boundary & 63), see boundary_fault_sink
//   ...             operations until the input ends (at most 256), u8 each:
//                   op % 8: 0-1 send, 2-3 try_send (producer op / 8 % 4,
//                   then u8 length and the payload), 4 barrier, 5 flush()
//                   alone (only when no frame is held at the gate, else it
//                   would wait forever), 6 close, 7 send of a large frame
//                   (u16 length % 4096, patterned payload)
#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "funnel/basic_writer.h"
#include "funnel/buffer.h"
#include "funnel/bytes.h"
#include "funnel/policies/sink/memory_sink.h"
#include "funnel/procwire/frame.h"
#include "funnel/procwire/frame_decoder.h"
#include "funnel/testing/fault_sink.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/gated_queue.h"
#include "fuzz/policy_choice.h"

namespace funnel::fuzzing {
namespace {

constexpr std::string_view kInjected = "injected fault";

using funnel::testing::fault;
using funnel::testing::fault_injecting_sink;

// The failure the fault script cannot aim: exactly at the end of the k-th
// accepted frame, where written and lost frames divide in fail_and_drain.
// The driver publishes that stream offset when it accepts frame k; the sink
// then takes bytes up to it and fails the next call.
struct boundary_target {
  std::atomic<std::uint64_t> offset{std::numeric_limits<std::uint64_t>::max()};
};

template <class Inner>
class boundary_fault_sink {
 public:
  boundary_fault_sink(Inner inner, std::shared_ptr<const boundary_target> target)
      : inner_(std::move(inner)), target_(std::move(target)) {}

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    // Acquire: pairs with the driver's release store (also ordered by the
    // gate's mutex, since the writer sees the frame only after release()).
    const std::uint64_t at = target_->offset.load(std::memory_order_acquire);
    if (failed_ || taken_ >= at) {
      failed_ = true;
      return absl::DataLossError(absl::StrCat(kInjected, " at stream offset ", at));
    }
    std::span<const const_buffer> offer = buffers;
    if (at - taken_ < total_size(buffers)) {
      std::size_t limit = at - taken_;
      cut_.clear();
      for (const const_buffer& b : buffers) {
        const std::size_t take = std::min(limit, b.size);
        cut_.push_back({b.data, take});
        limit -= take;
        if (limit == 0) break;
      }
      offer = cut_;
    }
    absl::StatusOr<std::size_t> n = inner_.write(offer);
    if (n.ok()) taken_ += *n;
    return n;
  }

 private:
  Inner inner_;
  std::shared_ptr<const boundary_target> target_;
  std::uint64_t taken_ = 0;
  bool failed_ = false;
  std::vector<const_buffer> cut_;
};

using sink_type = boundary_fault_sink<fault_injecting_sink<memory_sink>>;

constexpr int kProducers = 4;
constexpr std::size_t kMaxOps = 256;

struct script_info {
  std::vector<fault> script;
  bool can_fail = false;
};

script_info read_script(fuzz_input& in) {
  script_info s;
  const int n = in.u8() & 7;
  for (int i = 0; i < n; ++i) {
    const std::uint8_t kind = in.u8() % 6;
    switch (kind) {
      case 0:
        s.script.push_back(fault::pass());
        break;
      case 1:
        s.script.push_back(fault::short_write(in.u8()));
        break;
      case 2:
        s.script.push_back(fault::fail(absl::UnavailableError(absl::StrCat(kInjected, " ", i))));
        s.can_fail = true;
        break;
      case 3:
        s.script.push_back(fault::fail_after_bytes(
            in.u16(), absl::DataLossError(absl::StrCat(kInjected, " ", i))));
        s.can_fail = true;
        break;
      case 4:
        s.script.push_back(fault::short_writes(in.u8()));
        break;
      default: {
        const std::uint8_t seed = in.u8();
        s.script.push_back(fault::random_short_writes(seed, in.u8()));
        break;
      }
    }
  }
  return s;
}

struct config {
  std::size_t max_frames = 1;
  std::size_t max_bytes = 0;
  std::size_t sink_cap = 0;
  std::optional<std::size_t> boundary_frame;  // fail at the end of this accepted frame
};

// The writer, driven through the schedule, checked against the model.
template <class Writer>
class driver {
  // drop_newest_backpressure: a send at the bound is OK, and the frame dropped.
  static constexpr bool kDrops =
      overflow_of<typename Writer::backpressure_type> == overflow_action::drop_newest;

 public:
  driver(const config& c, std::shared_ptr<queue_gate> gate, Writer& w,
         std::shared_ptr<const memory_sink_buffer> out,
         std::shared_ptr<const funnel::testing::fault_sink_state> faults,
         std::shared_ptr<boundary_target> boundary, bool can_fail)
      : c_(c),
        gate_(std::move(gate)),
        w_(w),
        out_(std::move(out)),
        faults_(std::move(faults)),
        boundary_(std::move(boundary)),
        can_fail_(can_fail) {
    for (int p = 0; p < kProducers; ++p) handles_.push_back(w_.handle());
  }

  void send(int producer, std::span<const std::uint8_t> payload, bool may_wait) {
    const std::uint32_t request = static_cast<std::uint32_t>(producer) << 24 | seq_[producer];
    absl::StatusOr<outbound_frame> f = outbound_frame::make(
        static_cast<std::uint16_t>(1 + producer), frame_flags::kResponseToParent, request,
        bytes::copy_from(std::as_bytes(payload)));
    FUZZ_CHECK(f.ok()) << f.status();
    const std::size_t cost = f->size();
    const absl::Status s = may_wait ? handles_[producer].send(*f) : handles_[producer].try_send(*f);
    const char* what = may_wait ? "send" : "try_send";

    if (closed_ || failed_) {
      expect_not_open(s, what);
      return;
    }
    if (c_.max_bytes != 0 && cost > c_.max_bytes) {
      FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument)
          << what << " of a " << cost << "-byte frame, max_pending_bytes " << c_.max_bytes << ": "
          << s;
      return;
    }
    if (pending_frames_ >= c_.max_frames ||
        (c_.max_bytes != 0 && pending_bytes_ + cost > c_.max_bytes)) {
      if constexpr (kDrops) {
        FUZZ_CHECK(s.ok()) << what << " at the bound with drop_newest (" << pending_frames_
                           << " frames, " << pending_bytes_ << " bytes pending): " << s;
        ++dropped_;
        FUZZ_CHECK(w_.stats().frames_dropped == dropped_)
            << "frames_dropped " << w_.stats().frames_dropped << ", the model dropped " << dropped_;
        return;
      }
      const absl::StatusCode want =
          may_wait ? absl::StatusCode::kDeadlineExceeded : absl::StatusCode::kResourceExhausted;
      FUZZ_CHECK(s.code() == want) << what << " at the bound (" << pending_frames_ << " frames, "
                                   << pending_bytes_ << " bytes pending): " << s;
      return;
    }
    FUZZ_CHECK(s.ok()) << what << " with " << pending_frames_ << " frames / " << pending_bytes_
                       << " bytes pending (bound " << c_.max_frames << " / " << c_.max_bytes
                       << "): " << s;
    ++seq_[producer];
    ++pending_frames_;
    pending_bytes_ += cost;
    frame_ends_.push_back(stream_.size() + cost);
    if (c_.boundary_frame == frame_ends_.size() - 1) {
      // Release: pairs with the sink's acquire load.
      boundary_->offset.store(frame_ends_.back(), std::memory_order_release);
    }
    stream_ += std::string(reinterpret_cast<const char*>(f->encoded().data()), kHeaderSize);
    stream_ += f->payload().as_string_view();
  }

  // Release the gate and flush(): everything accepted is written, or the
  // injected failure is reported.
  void barrier() {
    if (closed_) {
      check_flush_after_close();
      return;
    }
    gate_->release();
    const absl::Status s = w_.flush();
    if (failed_) {
      expect_failure(s, "flush after the failure");
      return;
    }
    if (!s.ok()) {
      expect_failure(s, "flush");
      FUZZ_CHECK(can_fail_) << "flush failed without a failure in the script: " << s;
      failed_ = true;
      failure_ = s;
      return;
    }
    pending_frames_ = pending_bytes_ = 0;
    FUZZ_CHECK(w_.pending_count() == 0) << w_.pending_count() << " frames pending after flush()";
    const writer_stats st = w_.stats();
    FUZZ_CHECK(st.frames_written == frame_ends_.size() && st.frames_lost == 0)
        << "after flush(): written " << st.frames_written << ", lost " << st.frames_lost << " of "
        << frame_ends_.size() << " accepted";
    FUZZ_CHECK(st.bytes_written == stream_.size()) << st.bytes_written << " vs " << stream_.size();
    FUZZ_CHECK(out_->contents() == stream_) << "after flush() the sink's bytes differ";
  }

  // flush() with frames held at the gate would wait forever, so the model
  // only lets it through when nothing is held: then it returns at once.
  void flush_only() {
    if (closed_) {
      check_flush_after_close();
      return;
    }
    if (gate_->held() != 0) return;
    const absl::Status s = w_.flush();
    if (failed_) {
      expect_failure(s, "flush after the failure");
    } else {
      FUZZ_CHECK(s.ok()) << "flush() with nothing pending: " << s;
    }
  }

  void close() {
    const absl::Status s = w_.close();
    if (!closed_) {
      closed_ = true;
      close_status_ = s;
      const writer_stats st = w_.stats();
      if (s.ok()) {
        FUZZ_CHECK(!failed_) << "close() is OK after flush() reported " << failure_;
        FUZZ_CHECK(st.frames_lost == 0) << "close() is OK but " << st.frames_lost << " lost";
      } else {
        expect_failure(s, "close");
        FUZZ_CHECK(can_fail_) << "close failed without a failure in the script: " << s;
        FUZZ_CHECK(absl::StrContains(
            s.message(), absl::StrCat(st.frames_lost, " accepted frame(s) were not written")))
            << "close() does not count the " << st.frames_lost << " lost frames: " << s;
        failed_ = true;
      }
    } else {
      FUZZ_CHECK(s == close_status_) << "close() again: " << s << ", first " << close_status_;
    }
  }

  // The invariants that hold once the writer is closed.
  void final_checks() {
    const writer_stats st = w_.stats();
    const std::string out = out_->contents();
    FUZZ_CHECK(st.frames_accepted == frame_ends_.size() + dropped_)
        << "frames_accepted " << st.frames_accepted << ", the model accepted " << frame_ends_.size()
        << " and dropped " << dropped_;
    FUZZ_CHECK(st.frames_dropped == dropped_)
        << "frames_dropped " << st.frames_dropped << ", the model dropped " << dropped_;
    FUZZ_CHECK(st.frames_accepted == st.frames_written + st.frames_lost + st.frames_dropped)
        << "accepted " << st.frames_accepted << " != written " << st.frames_written << " + lost "
        << st.frames_lost << " + dropped " << st.frames_dropped;
    FUZZ_CHECK(out.size() == st.bytes_written)
        << "the sink holds " << out.size() << " bytes, bytes_written " << st.bytes_written;
    FUZZ_CHECK(faults_->bytes_written() == out.size()) << faults_->bytes_written();
    FUZZ_CHECK(std::string_view(stream_).substr(0, out.size()) == out)
        << "the sink's " << out.size() << " bytes are not a prefix of the accepted stream";
    // Whole frames: exactly frames_written, the first ones accepted.
    const std::size_t whole = static_cast<std::size_t>(
        std::upper_bound(frame_ends_.begin(), frame_ends_.end(), out.size()) - frame_ends_.begin());
    FUZZ_CHECK(whole == st.frames_written)
        << "the sink holds " << whole << " whole frames, frames_written " << st.frames_written;
    frame_decoder d;
    d.push(std::as_bytes(std::span(out)));
    std::size_t decoded = 0;
    for (;;) {
      absl::StatusOr<std::optional<decoded_frame>> f = d.next();
      FUZZ_CHECK(f.ok()) << "the written bytes do not decode: " << f.status();
      if (!f->has_value()) break;
      ++decoded;
    }
    FUZZ_CHECK(decoded == st.frames_written)
        << decoded << " decoded, " << st.frames_written << " counted written";
    const bool complete = out.size() == stream_.size();
    FUZZ_CHECK(close_status_.ok() == (st.frames_lost == 0) && complete == (st.frames_lost == 0))
        << "close() " << close_status_ << ", lost " << st.frames_lost << ", sink has " << out.size()
        << " of " << stream_.size() << " bytes";
    if (!can_fail_) FUZZ_CHECK(close_status_.ok()) << close_status_;
    // After close, sends are refused.
    const absl::Status s = handles_[0].try_send(*outbound_frame::make(1, 0, 0, bytes()));
    expect_not_open(s, "try_send after close");
  }

 private:
  void expect_failure(const absl::Status& s, const char* what) {
    FUZZ_CHECK(s.code() == absl::StatusCode::kUnavailable &&
               absl::StrContains(s.message(), "sink failed") &&
               absl::StrContains(s.message(), kInjected))
        << what << ": expected the injected failure, got " << s;
  }
  void expect_not_open(const absl::Status& s, const char* what) {
    if (failed_) {
      expect_failure(s, what);
    } else {
      FUZZ_CHECK(s.code() == absl::StatusCode::kFailedPrecondition)
          << what << " after close(): " << s;
    }
  }
  void check_flush_after_close() {
    const absl::Status s = w_.flush();
    if (failed_) {
      expect_failure(s, "flush after close");
    } else {
      FUZZ_CHECK(s.ok()) << "flush() after a clean close(): " << s;
    }
  }

  const config c_;
  std::shared_ptr<queue_gate> gate_;
  Writer& w_;
  std::shared_ptr<const memory_sink_buffer> out_;
  std::shared_ptr<const funnel::testing::fault_sink_state> faults_;
  std::shared_ptr<boundary_target> boundary_;
  const bool can_fail_;
  std::vector<typename Writer::handle_type> handles_;

  std::uint32_t seq_[kProducers] = {};
  std::string stream_;                   // wire bytes of every accepted frame, in order
  std::vector<std::size_t> frame_ends_;  // stream_ offset where each accepted frame ends
  std::size_t pending_frames_ = 0;       // accepted since the last barrier
  std::size_t pending_bytes_ = 0;
  std::uint64_t dropped_ = 0;  // sends the model expected drop_newest to drop
  bool closed_ = false;
  bool failed_ = false;
  absl::Status failure_;
  absl::Status close_status_;
};

template <class Queue, class Backpressure, class Batcher>
void run(const config& c, Batcher batcher, script_info script, fuzz_input& in) {
  memory_sink::options mo;
  if (c.sink_cap != 0) mo.max_bytes_per_write = c.sink_cap;
  memory_sink mem(mo);
  auto out = mem.buffer();
  fault_injecting_sink<memory_sink> scripted(std::move(mem), std::move(script.script));
  auto faults = scripted.state();
  auto boundary = std::make_shared<boundary_target>();
  sink_type sink(std::move(scripted), boundary);

  writer_options o;
  o.max_pending_frames = c.max_frames;
  o.max_pending_bytes = c.max_bytes;
  o.queue_capacity = c.max_frames;
  o.backpressure_timeout = absl::ZeroDuration();  // a send at the bound fails at once
  auto gate = std::make_shared<queue_gate>();
  using writer = basic_writer<Queue, sink_type, Backpressure, Batcher>;
  std::optional<writer> w;
  {
    queue_gate::scoped_install install(gate);
    w.emplace(std::move(sink), o, Backpressure(), batcher);
  }
  driver<writer> d(c, gate, *w, out, faults, boundary,
                   script.can_fail || c.boundary_frame.has_value());

  std::uint8_t pattern[4096];
  for (std::size_t i = 0; i < sizeof pattern; ++i) pattern[i] = static_cast<std::uint8_t>(i * 7);
  for (std::size_t ops = 0; !in.empty() && ops < kMaxOps; ++ops) {
    const std::uint8_t op = in.u8();
    const int producer = (op >> 3) % kProducers;
    switch (op % 8) {
      case 0:
      case 1:
        d.send(producer, in.take(in.u8()), /*may_wait=*/true);
        break;
      case 2:
      case 3:
        d.send(producer, in.take(in.u8()), /*may_wait=*/false);
        break;
      case 4:
        d.barrier();
        break;
      case 5:
        d.flush_only();
        break;
      case 6:
        d.close();
        break;
      default:
        d.send(producer, std::span<const std::uint8_t>(pattern, in.u16() % sizeof pattern),
               /*may_wait=*/true);
        break;
    }
  }
  d.close();
  d.final_checks();
}

}  // namespace
}  // namespace funnel::fuzzing

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace funnel::fuzzing;
  fuzz_input in(data, size);
  const std::uint8_t policies = in.u8();
  const std::uint8_t a = in.u8();
  const std::uint16_t b = in.u16();
  config c;
  c.max_frames = 1 + in.u8() % 16;
  c.max_bytes = in.u16() % 2048;
  c.sink_cap = in.u8();
  script_info script = read_script(in);
  if (const std::uint8_t k = in.u8(); (k & 0x80) != 0) c.boundary_frame = k & 0x3F;
  choose_queue(policies, [&](auto queue) {
    choose_backpressure(policies >> 2, (policies & 0x40) != 0, [&](auto backpressure) {
      choose_batcher(policies >> 4, a, b, [&](auto batcher) {
        run<typename decltype(queue)::type, typename decltype(backpressure)::type>(c, batcher,
                                                                                   script, in);
      });
    });
  });
  return 0;
}
