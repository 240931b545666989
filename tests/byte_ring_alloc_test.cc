// tests/byte_ring_alloc_test.cc: the byte ring path allocates nothing per
// frame. A global operator new (every replaceable variant, aligned and sized
// ones too) counts allocations on any thread, the writer's included, while a
// flag is set. Each case warms up and flushes, counts from there to the final
// flush of 20000 frames through a 256 KiB ring of 256 records, and expects
// exactly 0: (a) send() of procwire frames built before counting (the
// payloads are the user's), copied, the largest by reference; (b) claims and
// send_in_place; (c) 4 producers using send_in_place, started before counting.
// The sink keeps a byte count and checksums, not the bytes: it allocates
// nothing itself, and the checksums prove every byte went through.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "funnel/basic_writer.h"
#include "funnel/policies/backpressure/condvar_backpressure.h"
#include "funnel/policies/batcher/byte_batcher.h"
#include "funnel/policies/queue/byte_ring.h"
#include "funnel/procwire/frame.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

// ---- the counting allocator --------------------------------------------------

namespace {

std::atomic<bool> g_counting{false};
std::atomic<std::uint64_t> g_allocations{0};

void* counted(std::size_t n, std::align_val_t a = std::align_val_t{0}) noexcept {
  // Relaxed: carries no data. Every allocation a case means to count is
  // ordered after the store of `true` and before the store of `false` by the
  // writer's own hand-offs (a commit the writer acquires, the progress flush()
  // acquires), so it reads `true`.
  if (g_counting.load(std::memory_order_relaxed)) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  const auto align = static_cast<std::size_t>(a);
  if (n == 0) n = 1;
  if (align <= alignof(std::max_align_t)) return std::malloc(n);
  return std::aligned_alloc(align, (n + align - 1) / align * align);  // a multiple of align
}

void* counted_or_throw(std::size_t n, std::align_val_t a = std::align_val_t{0}) {
  if (void* p = counted(n, a)) return p;
  throw std::bad_alloc();
}

}  // namespace

void* operator new(std::size_t n) { return counted_or_throw(n); }
void* operator new[](std::size_t n) { return counted_or_throw(n); }
void* operator new(std::size_t n, std::align_val_t a) { return counted_or_throw(n, a); }
void* operator new[](std::size_t n, std::align_val_t a) { return counted_or_throw(n, a); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted(n); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted(n, a);
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted(n, a);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace funnel {
namespace {

using ::funnel::testing_internal::make_frame;
using ::funnel::testing_internal::wire_bytes;

constexpr std::uint32_t kFrames = 20000;
constexpr std::uint32_t kWarmUp = 200;

// Counts allocations on every thread from construction to stop().
class allocation_window {
 public:
  // Relaxed stores and load: see counted(); the count is read on the thread
  // that stops counting, after the hand-offs that order what it counts.
  allocation_window() {
    g_allocations.store(0, std::memory_order_relaxed);
    g_counting.store(true, std::memory_order_relaxed);
  }
  ~allocation_window() { stop(); }
  std::uint64_t stop() {
    g_counting.store(false, std::memory_order_relaxed);
    return g_allocations.load(std::memory_order_relaxed);
  }
};

// Counts the bytes it is given and keeps two checksums (FNV-1a over the
// stream, and an order-free sum), storing nothing: allocates nothing.
struct checksum_sink {
  struct state {
    std::uint64_t bytes = 0;
    std::uint64_t fnv = 0xCBF29CE484222325u;
    std::uint64_t sum = 0;
    void add(const void* data, std::size_t n) {
      for (std::size_t k = 0; k < n; ++k) {
        const std::uint8_t v = static_cast<const std::uint8_t*>(data)[k];
        fnv = (fnv ^ v) * 0x100000001B3u;
        sum += v;
      }
      bytes += n;
    }
    void add(const std::string& wire) { add(wire.data(), wire.size()); }
  };
  std::shared_ptr<state> s = std::make_shared<state>();

  absl::StatusOr<std::size_t> write(std::span<const const_buffer> buffers) {
    for (const const_buffer& b : buffers) s->add(b.data, b.size);
    return total_size(buffers);
  }
};

using by_ref_ring = byte_ring<outbound_frame, byte_ring_config{.by_reference_above = 16384}>;
using ring_writer = basic_writer<by_ref_ring, checksum_sink, condvar_backpressure, byte_batcher>;

writer_options small_ring() {
  writer_options o;
  o.max_pending_bytes = 256 * 1024;  // small enough that producers wait for space
  o.max_pending_frames = 256;
  return o;
}

// Frame i: payload sizes 0..300, and every 1000th 40000 bytes (by reference
// through send(); claims and send_in_place stay at most 300).
std::size_t payload_size(std::uint32_t i) { return i % 1000 == 999 ? 40000 : i % 301; }
std::size_t in_place_payload(std::uint32_t i) { return i % 301; }
std::byte payload_byte(std::uint32_t i, std::size_t k) {
  return static_cast<std::byte>('a' + (i + k) % 26);
}
std::string payload(std::uint32_t i, std::size_t size) {
  std::string p(size, '\0');
  for (std::size_t k = 0; k < size; ++k) p[k] = static_cast<char>(payload_byte(i, k));
  return p;
}

// Writes the wire bytes of frame `id` with frame i's payload into `out`.
void encode(std::uint32_t id, std::uint32_t i, std::span<std::byte> out) {
  const encoded_header h = encode_header({1, frame_flags::kResponseToParent, id,
                                          static_cast<std::uint32_t>(out.size() - kHeaderSize)});
  std::memcpy(out.data(), h.data(), h.size());
  for (std::size_t k = kHeaderSize; k < out.size(); ++k) out[k] = payload_byte(i, k - kHeaderSize);
}

void expect_stream(ring_writer& w, const checksum_sink::state& got,
                   const checksum_sink::state& want, std::uint64_t frames) {
  EXPECT_EQ(w.stats().frames_accepted, frames);
  EXPECT_EQ(w.stats().frames_written, frames);
  EXPECT_EQ(w.stats().bytes_written, want.bytes);
  EXPECT_EQ(got.bytes, want.bytes);
  EXPECT_EQ(got.sum, want.sum);
}

// The counter is wired in: allocations made while counting are seen, on any
// thread, so a regression that allocates per frame fails the cases below.
TEST(ByteRingAlloc, TheCounterSeesAllocationsOnAnyThread) {
  allocation_window window;
  std::vector<outbound_frame> frames;
  frames.reserve(10);
  for (std::uint32_t i = 0; i < 10; ++i) frames.push_back(make_frame(i, "x"));
  const std::uint64_t here = g_allocations.load(std::memory_order_relaxed);
  EXPECT_GE(here, 11u) << "the vector, and one payload per frame";
  std::uint64_t there = 0;
  outbound_frame from_thread;
  std::thread([&] {
    const std::uint64_t before = g_allocations.load(std::memory_order_relaxed);
    from_thread = make_frame(99, "y");
    there = g_allocations.load(std::memory_order_relaxed) - before;
  }).join();
  EXPECT_GE(there, 1u) << "the payload built on another thread";
}

TEST(ByteRingAlloc, SendOfPrebuiltFramesAllocatesNothing) {
  checksum_sink sink;
  auto got = sink.s;
  ring_writer w(std::move(sink), small_ring());
  auto h = w.handle();
  std::vector<outbound_frame> frames;  // the user's frames, built before counting
  checksum_sink::state want;
  for (std::uint32_t i = 0; i < kWarmUp + kFrames; ++i) {
    const std::string p = payload(i, payload_size(i));
    frames.push_back(make_frame(i, p));
    want.add(wire_bytes(i, p));
  }
  for (std::uint32_t i = 0; i < kWarmUp; ++i) ASSERT_TRUE(h.send(std::move(frames[i])).ok());
  ASSERT_TRUE(w.flush().ok());
  std::uint64_t allocations;
  {
    allocation_window window;
    for (std::uint32_t i = kWarmUp; i < kWarmUp + kFrames; ++i) {
      ASSERT_TRUE(h.send(std::move(frames[i])).ok()) << i;
    }
    ASSERT_TRUE(w.flush().ok());
    allocations = window.stop();
  }
  EXPECT_EQ(allocations, 0u) << "allocations over " << kFrames << " frames";
  ASSERT_TRUE(w.close().ok());
  expect_stream(w, *got, want, kWarmUp + kFrames);
  EXPECT_EQ(got->fnv, want.fnv) << "the stream, in order";
}

TEST(ByteRingAlloc, ClaimsAndSendInPlaceAllocateNothing) {
  checksum_sink sink;
  auto got = sink.s;
  ring_writer w(std::move(sink), small_ring());
  auto h = w.handle();
  auto send_one = [&h](std::uint32_t i) -> absl::Status {
    const std::size_t n = kHeaderSize + in_place_payload(i);
    if (i % 2 == 0) {
      return h.send_in_place(n, [i](std::span<std::byte> out) { encode(i, i, out); });
    }
    absl::StatusOr<ring_writer::handle_type::claim_type> c = h.claim(n);
    if (!c.ok()) return c.status();
    encode(i, i, c->data());
    return c->commit();
  };
  for (std::uint32_t i = 0; i < kWarmUp; ++i) ASSERT_TRUE(send_one(i).ok());
  ASSERT_TRUE(w.flush().ok());
  std::uint64_t allocations;
  {
    allocation_window window;
    for (std::uint32_t i = kWarmUp; i < kWarmUp + kFrames; ++i) {
      ASSERT_TRUE(send_one(i).ok()) << i;
    }
    ASSERT_TRUE(w.flush().ok());
    allocations = window.stop();
  }
  EXPECT_EQ(allocations, 0u) << "allocations over " << kFrames << " frames";
  ASSERT_TRUE(w.close().ok());
  checksum_sink::state want;
  for (std::uint32_t i = 0; i < kWarmUp + kFrames; ++i) {
    want.add(wire_bytes(i, payload(i, in_place_payload(i))));
  }
  expect_stream(w, *got, want, kWarmUp + kFrames);
  EXPECT_EQ(got->fnv, want.fnv) << "the stream, in order";
}

TEST(ByteRingAlloc, FourProducersUsingSendInPlaceAllocateNothing) {
  constexpr std::uint32_t kProducers = 4, kPer = kFrames / kProducers;
  checksum_sink sink;
  auto got = sink.s;
  ring_writer w(std::move(sink), small_ring());
  std::atomic<std::uint32_t> ready{0}, done{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;  // started, and warmed up, before counting
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p, h = w.handle()]() mutable {
      auto send_one = [&h, p](std::uint32_t i) {
        absl::Status s =
            h.send_in_place(kHeaderSize + in_place_payload(i), [p, i](std::span<std::byte> out) {
              encode(p << 24 | i, i, out);
              return absl::OkStatus();
            });
        EXPECT_TRUE(s.ok()) << s;
      };
      for (std::uint32_t i = 0; i < kWarmUp; ++i) send_one(i);
      ready.fetch_add(1, std::memory_order_release);
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      for (std::uint32_t i = kWarmUp; i < kWarmUp + kPer; ++i) send_one(i);
      done.fetch_add(1, std::memory_order_release);  // before the thread exits
    });
  }
  while (ready.load(std::memory_order_acquire) < kProducers) std::this_thread::yield();
  EXPECT_TRUE(w.flush().ok());  // EXPECT: the threads must be released and joined
  std::uint64_t allocations;
  {
    allocation_window window;
    go.store(true, std::memory_order_release);
    while (done.load(std::memory_order_acquire) < kProducers) std::this_thread::yield();
    EXPECT_TRUE(w.flush().ok());
    allocations = window.stop();
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(allocations, 0u) << "allocations over " << kProducers * kPer << " frames";
  ASSERT_TRUE(w.close().ok());
  checksum_sink::state want;  // the order across producers varies: compare order-free
  for (std::uint32_t p = 0; p < kProducers; ++p) {
    for (std::uint32_t i = 0; i < kWarmUp + kPer; ++i) {
      want.add(wire_bytes(p << 24 | i, payload(i, in_place_payload(i))));
    }
  }
  expect_stream(w, *got, want, kProducers * (kWarmUp + kPer));
}

}  // namespace
}  // namespace funnel
