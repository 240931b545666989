// fuzz/partial_write_fuzz.cc: libFuzzer target for the partial-write resume
// path: `consume_front` (funnel/buffer.h) on its own, then the writer's
// write loop (basic_writer's write_batch) over a sink whose write() takes a
// fuzzed number of bytes per call.
//
// The model is the concatenation of the frames' wire bytes, and a position
// in it. Checked:
//   consume_front  after dropping n bytes (fuzzed, any n, also past the end)
//                  the ranges left are exactly the model's bytes from the new
//                  position, the first range is never empty, and ranges that
//                  start out empty (fuzzed in) do not upset it;
//   the writer     every write() call is offered a non-empty gather list
//                  with no zero-length range (the Sink contract,
//                  funnel/concepts.h) whose bytes are exactly the model's
//                  next bytes up to the end of the current batch, where the
//                  batches are what the Batcher's admits() makes of the
//                  frames; after close() the sink holds exactly the model's
//                  bytes and the counters (frames, bytes, write calls,
//                  partial writes, batches) agree with the calls made.
//
// Input layout (fuzz/fuzz_input.h):
//   u8  config      bits 0-1 batcher, bits 2-3 queue, bit 4: empty ranges
//                   in the consume_front list
//   u8  a, u16 b    batcher parameters (fuzz/policy_choice.h)
//   u8  n           n & 31 write sizes follow, u8 each, used cyclically:
//                   0 takes everything offered, k takes at most k bytes
//   ...             frames until the input ends (at most 64): u8 length,
//                   then that many payload bytes
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "funnel/basic_writer.h"
#include "funnel/buffer.h"
#include "funnel/bytes.h"
#include "funnel/policies/backpressure/sleep_backpressure.h"
#include "funnel/procwire/frame.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/gated_queue.h"
#include "fuzz/policy_choice.h"

namespace funnel::fuzzing {
namespace {

constexpr std::size_t kMaxFrames = 64;

std::string flatten(std::span<const const_buffer> buffers) {
  std::string out;
  for (const const_buffer& b : buffers) out.append(reinterpret_cast<const char*>(b.data), b.size);
  return out;
}

std::string wire(const outbound_frame& f) {
  std::string out(reinterpret_cast<const char*>(f.encoded().data()), kHeaderSize);
  out.append(f.payload().as_string_view());
  return out;
}

// The cyclic script of write sizes.
struct size_script {
  std::vector<std::uint8_t> sizes;
  std::size_t next = 0;
  // How much of `offered` the next call takes (>= 1).
  std::size_t take(std::size_t offered) {
    if (sizes.empty()) return offered;
    const std::size_t k = sizes[next++ % sizes.size()];
    return k == 0 ? offered : std::min(offered, k);
  }
};

// --- 1. consume_front against the model --------------------------------------

void check_consume_front(const std::vector<outbound_frame>& frames, bool with_empty_ranges,
                         size_script script) {
  std::vector<const_buffer> list;
  std::string model;
  static constexpr std::byte kNothing{0};
  for (const outbound_frame& f : frames) {
    if (with_empty_ranges) list.push_back({&kNothing, 0});
    list.push_back({f.encoded().data(), kHeaderSize});
    if (with_empty_ranges || !f.payload().empty()) {
      list.push_back({f.payload().data(), f.payload().size()});
    }
    model += wire(f);
  }
  const std::vector<const_buffer> original = list;
  std::span<const_buffer> rest(list);
  std::size_t pos = 0;
  while (pos < model.size()) {
    const std::size_t n = script.take(model.size() - pos);
    rest = consume_front(rest, n);
    pos += n;
    FUZZ_CHECK(flatten(rest) == model.substr(pos))
        << "after consuming to " << pos << " of " << model.size() << " the ranges hold "
        << total_size(rest) << " bytes that differ from the model's";
    FUZZ_CHECK(rest.empty() || rest.front().size > 0)
        << "consume_front left a zero-length range in front at " << pos;
    FUZZ_CHECK(total_size(rest) == model.size() - pos) << "total_size at " << pos;
  }
  FUZZ_CHECK(rest.empty()) << rest.size() << " ranges left after the last byte";
  // Consuming more than there is empties the list.
  list = original;
  rest = consume_front(std::span<const_buffer>(list), model.size() + 1 + script.take(7));
  FUZZ_CHECK(rest.empty()) << "consuming past the end left " << rest.size() << " ranges";
}

// --- 2. the writer's resume path ---------------------------------------------

struct sink_log {
  std::string bytes;        // what the sink took
  std::uint64_t calls = 0;  // write() calls
  std::uint64_t short_calls = 0;
  std::vector<std::size_t> offered;  // bytes offered per call
  std::vector<std::string> violations;
};

// Takes script.take(offered) bytes per call; records everything.
class scripted_sink {
 public:
  scripted_sink(std::shared_ptr<sink_log> log, size_script script)
      : log_(std::move(log)), script_(std::move(script)) {}

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    ++log_->calls;
    if (buffers.empty()) log_->violations.push_back("write() got an empty gather list");
    for (std::size_t i = 0; i < buffers.size(); ++i) {
      if (buffers[i].size == 0) {
        log_->violations.push_back("write() got a zero-length range at index " + std::to_string(i) +
                                   " of " + std::to_string(buffers.size()));
      }
    }
    const std::size_t offered = total_size(buffers);
    log_->offered.push_back(offered);
    const std::size_t n = script_.take(offered);
    if (n < offered) ++log_->short_calls;
    log_->bytes += flatten(buffers).substr(0, n);
    return n;
  }

 private:
  std::shared_ptr<sink_log> log_;
  size_script script_;
};

// The batches fill_batch makes when every frame is queued before the writer
// looks: the first frame starts a batch, the next joins while admits() says so.
template <class Batcher>
std::vector<std::size_t> model_batches(const Batcher& batcher,
                                       const std::vector<outbound_frame>& frames) {
  std::vector<std::size_t> sizes;  // wire bytes per batch
  std::size_t i = 0;
  while (i < frames.size()) {
    batch_stats st{1, frames[i].size()};
    ++i;
    while (i < frames.size() && batcher.admits(st, frames[i].size())) {
      ++st.frames;
      st.bytes += frames[i].size();
      ++i;
    }
    sizes.push_back(st.bytes);
  }
  return sizes;
}

template <class Queue, class Batcher>
void check_writer(const std::vector<outbound_frame>& frames, Batcher batcher,
                  const size_script& script) {
  std::string model;
  for (const outbound_frame& f : frames) model += wire(f);
  const std::vector<std::size_t> batches = model_batches(batcher, frames);

  auto log = std::make_shared<sink_log>();
  auto gate = std::make_shared<queue_gate>();
  writer_options o;
  o.max_pending_frames = frames.size() + 1;
  o.queue_capacity = frames.size() + 1;
  using writer = basic_writer<Queue, scripted_sink, sleep_backpressure, Batcher>;
  std::optional<writer> w;
  {
    queue_gate::scoped_install install(gate);
    w.emplace(scripted_sink(log, script), o, sleep_backpressure(), batcher);
  }
  auto h = w->handle();
  for (const outbound_frame& f : frames) {
    const absl::Status s = h.try_send(f);
    FUZZ_CHECK(s.ok()) << s;
  }
  gate->release();  // every frame at once: the batches are the batcher's alone
  const absl::Status flushed = w->flush();
  FUZZ_CHECK(flushed.ok()) << flushed;
  const absl::Status closed = w->close();
  FUZZ_CHECK(closed.ok()) << closed;

  FUZZ_CHECK(log->violations.empty()) << log->violations.front();
  FUZZ_CHECK(log->bytes == model) << "the sink took " << log->bytes.size()
                                  << " bytes that differ from the model's " << model.size();
  // Each call is offered exactly the rest of the current batch.
  std::size_t call = 0, pos = 0;
  for (std::size_t b = 0; b < batches.size(); ++b) {
    std::size_t left = batches[b];
    while (left > 0) {
      FUZZ_CHECK(call < log->offered.size()) << "fewer write calls than the model needs";
      FUZZ_CHECK(log->offered[call] == left)
          << "call " << call << " (batch " << b << ", stream offset " << pos << ") offered "
          << log->offered[call] << " bytes, the rest of the batch is " << left;
      size_script replay = script;
      replay.next = call;
      const std::size_t n = replay.take(left);
      left -= n;
      pos += n;
      ++call;
    }
  }
  FUZZ_CHECK(call == log->offered.size())
      << log->offered.size() << " write calls, the model makes " << call;
  const writer_stats st = w->stats();
  FUZZ_CHECK(st.frames_accepted == frames.size() && st.frames_written == frames.size() &&
             st.frames_lost == 0)
      << "accepted " << st.frames_accepted << ", written " << st.frames_written << ", lost "
      << st.frames_lost << " of " << frames.size();
  FUZZ_CHECK(st.bytes_written == model.size()) << st.bytes_written << " vs " << model.size();
  FUZZ_CHECK(st.write_calls == log->calls) << st.write_calls << " vs " << log->calls;
  FUZZ_CHECK(st.partial_writes == log->short_calls)
      << st.partial_writes << " vs " << log->short_calls;
  FUZZ_CHECK(st.batches == batches.size()) << st.batches << " vs " << batches.size();
}

}  // namespace
}  // namespace funnel::fuzzing

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace funnel::fuzzing;
  fuzz_input in(data, size);
  const std::uint8_t config = in.u8();
  const std::uint8_t a = in.u8();
  const std::uint16_t b = in.u16();
  size_script script;
  const std::span<const std::uint8_t> sizes = in.take(in.u8() & 31);
  script.sizes.assign(sizes.begin(), sizes.end());

  std::vector<funnel::outbound_frame> frames;
  while (!in.empty() && frames.size() < kMaxFrames) {
    const std::span<const std::uint8_t> p = in.take(in.u8());
    const auto index = static_cast<std::uint32_t>(frames.size());
    absl::StatusOr<funnel::outbound_frame> f = funnel::outbound_frame::make(
        static_cast<std::uint16_t>(1 + index % 7), funnel::frame_flags::kResponseToParent, index,
        funnel::bytes::copy_from(std::as_bytes(p)));
    FUZZ_CHECK(f.ok()) << f.status();
    frames.push_back(*std::move(f));
  }

  check_consume_front(frames, (config & 0x10) != 0, script);
  if (frames.empty()) return 0;  // nothing to write: close() alone is the writer test
  choose_queue(config >> 2, [&](auto queue) {
    choose_batcher(config, a, b, [&](auto batcher) {
      check_writer<typename decltype(queue)::type>(frames, batcher, script);
    });
  });
  return 0;
}
