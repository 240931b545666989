// funnel/policies/queue/byte_ring.h
// -----------------------------------------------------------------------------
// `byte_ring<F, Config>`: a bounded multi-producer single-consumer ring of
// BYTES (Aeron's ManyToOneRingBuffer, with the record headers kept out of
// line). A producer reserves a record with one CAS, encodes its frame's wire
// bytes in place (send: a copy of F::wire(); claim: the caller writes them),
// and commits. The writer thread hands the sink whole committed regions, one
// or two ranges per batch across the wrap, and frees space once per batch.
//
// Frames of at least Config.by_reference_above wire bytes travel by
// reference instead: the frame object itself is moved into the ring and the
// writer writes its wire() ranges, so a large payload is never copied.
//
// When to use: small and medium frames at high rates. Per frame, a producer
// pays one CAS, a copy of its wire bytes and a release store; the writer pays
// one acquire load per record and one write call per region.
// When not to use: when frames are built once and written many times, or
// are mostly huge (a frame queue moves the frame object, a ring copies it
// unless it is sent by reference).
//
// How basic_writer uses it: funnel::byte_queue (concepts.h) selects the ring
// drain loop (detail/ring_drain_loop.h) and the ring admission
// (detail/ring_admission.h); handles gain claim()/try_claim(). The writer
// builds the ring with max_pending_bytes (0: kDefaultRingBytes) and
// max_pending_frames: both bounds are exact (one CAS takes both).
//
// Layout: records are [state word] in a slot array (see
// detail/ring_words.h) plus their bytes in the byte array. The producers'
// tail, the writer's head and the wake-up state each own a cache line.
//
// Thread-safety: the producer calls (try_reserve, data, copy_in, commit,
// mark_claimed, commit_claim) from any number of threads, each on its own
// reservation; the writer calls (state, abandon, release, wait_readable) from
// one thread; close/closed/tail from anywhere.
//
// Memory ordering: reservation CAS on the tail is seq_cst (the producer half
// of the writer's shutdown handshake, see detail/writer_shared.h); a
// producer's bound check loads the head with acquire, pairing with the
// writer's release store once it has finished with the freed bytes and
// slots. Commits store the record's state with release (claims: CAS), which
// the writer's acquire load pairs with, so the bytes are visible to it.
// Wake-ups: see event_count.h.
//
// Blocking: wait_readable re-checks Config.spin_before_park times (a pause
// instruction each), then sleeps on the event count: it spins only when the
// config says so by name. Allocation: the byte and slot arrays, once.
#ifndef FUNNEL_POLICIES_QUEUE_BYTE_RING_H_
#define FUNNEL_POLICIES_QUEUE_BYTE_RING_H_

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

#include "absl/time/time.h"
#include "funnel/buffer.h"
#include "funnel/concepts.h"               // pending_level
#include "funnel/detail/pending_budget.h"  // kCacheLine
#include "funnel/detail/ring_bytes.h"
#include "funnel/detail/ring_words.h"
#include "funnel/event_count.h"
#include "funnel/frame.h"

namespace funnel {

struct byte_ring_config {
  // Frames whose size() is at least this travel by reference (no payload
  // copy); 0 sends every frame by reference.
  std::size_t by_reference_above = 64 * 1024;
  // The writer re-checks this many times before it sleeps when the ring is
  // empty (the Disruptor's phased backoff): lower wake-up latency for a
  // little CPU while traffic flows; idle CPU stays ~0.
  std::uint32_t spin_before_park = 0;
};

inline constexpr std::size_t kDefaultRingBytes = std::size_t{1} << 20;

template <class F, byte_ring_config Config = byte_ring_config{}>
class byte_ring {
  static_assert(check_frame<F>());

 public:
  using value_type = F;
  static constexpr byte_ring_config config = Config;
  // Bytes a by-reference record reserves: the object, aligned in place.
  static constexpr std::size_t kFrameRecordBytes = sizeof(F) + alignof(F) - 1;

  struct reservation {
    std::uint64_t count = 0;  // record number (modulo 2^24)
    std::uint64_t at = 0;     // byte position of the record (modulo 2^40)
    std::uint64_t span = 0;   // bytes reserved, padding at the wrap included
    bool wraps = false;       // content starts at ring offset 0
  };

  // `max_bytes` (<= 2^32) and `max_records` (<= 2^22) outstanding at once;
  // the caller checks the limits (basic_writer does, with an error).
  byte_ring(std::size_t max_bytes, std::size_t max_records)
      : max_bytes_(max_bytes == 0 ? kDefaultRingBytes : max_bytes),
        max_records_(max_records),
        bytes_(max_bytes_),
        slot_mask_(std::bit_ceil(max_records < 2 ? std::size_t{2} : max_records) - 1),
        slots_(std::make_unique<std::atomic<std::uint64_t>[]>(slot_mask_ + 1)) {
    for (std::uint64_t i = 0; i <= slot_mask_; ++i) {
      // A state of the lap before the first: "not committed". Relaxed: the
      // thread start that publishes the ring synchronises.
      slots_[i].store(detail::ring::pack_state(i - (slot_mask_ + 1), 0, 0),
                      std::memory_order_relaxed);
    }
  }
  ~byte_ring();
  byte_ring(const byte_ring&) = delete;
  byte_ring& operator=(const byte_ring&) = delete;

  std::size_t max_bytes() const noexcept { return max_bytes_; }
  std::size_t capacity() const noexcept { return max_records_; }  // records
  // The largest claim: at most half the ring, so that with the padding at
  // the wrap it always fits into an empty ring.
  std::size_t max_claim() const noexcept { return max_bytes_ / 2; }
  // True when the ring holds its bound of records or bytes. Relaxed loads:
  // informational (handle.is_backpressure_active()).
  bool full() const noexcept {
    const std::uint64_t h = head_.value.load(std::memory_order_relaxed);
    const std::uint64_t t = tail_.value.load(std::memory_order_relaxed);
    return detail::ring::count_between(h, t) >= max_records_ ||
           detail::ring::bytes_between(h, t) >= max_bytes_;
  }

  // Records and bytes in use, against their bounds (the writer's water-mark
  // reading, after it freed space). Relaxed loads: a hint (see concepts.h).
  pending_level level() const noexcept {
    const std::uint64_t h = head_.value.load(std::memory_order_relaxed);
    const std::uint64_t t = tail_.value.load(std::memory_order_relaxed);
    return {detail::ring::count_between(h, t), max_records_, detail::ring::bytes_between(h, t),
            max_bytes_};
  }

  // ---- producers ---------------------------------------------------------
  // Reserves a record of `n` bytes (contiguous: never split at the ring's
  // end; the bytes up to the end become padding). False when it does not fit
  // now. Never blocks.
  bool try_reserve(std::size_t n, bool contiguous, reservation& r) noexcept {
    namespace ring = detail::ring;
    // Relaxed: a starting guess; the CAS decides.
    std::uint64_t t = tail_.value.load(std::memory_order_relaxed);
    for (;;) {
      const std::uint64_t at = ring::position_bytes(t);
      const std::uint64_t off = bytes_.offset(at);
      const bool wraps = contiguous && off + n > bytes_.size();
      const std::uint64_t span = wraps ? bytes_.size() - off + n : n;
      const std::uint64_t next = ring::pack_position(ring::position_count(t) + 1, at + span);
      // Acquire: pairs with release(); the writer is done with what we reuse.
      const std::uint64_t h = head_.value.load(std::memory_order_acquire);
      if (ring::count_between(h, next) > max_records_ ||
          ring::bytes_between(h, next) > max_bytes_) {
        return false;
      }
      // seq_cst: the producer half of the shutdown handshake.
      if (tail_.value.compare_exchange_weak(t, next, std::memory_order_seq_cst,
                                            std::memory_order_relaxed)) {
        r = {ring::position_count(t), at, span, wraps};
        return true;
      }
    }
  }

  // The first content byte of a contiguous reservation.
  std::byte* data(const reservation& r) noexcept { return bytes_.at(r.at, r.wraps); }
  // Copies `src` to content offset `at` of a (possibly split) reservation.
  void copy_in(const reservation& r, std::size_t at, const_buffer src) noexcept {
    bytes_.copy_in(r.at + at, src);
  }

  // Publishes the record as `k` (kData, kPadding or kFrame) and wakes the
  // writer. For reservations not marked claimed.
  void commit(const reservation& r, detail::ring::kind k) noexcept {
    // Release: the content is visible to the writer's acquire in state().
    slot(r.count).store(pack(r, k), std::memory_order_release);
    wake_.ready.notify_all();
  }
  // The writer's count of accepted frames, kept on the tail's cache line,
  // which the producer owns already after its reservation. Relaxed: a
  // statistic (flush() reads it; the commit publishes the frame).
  void count_accepted() noexcept { tail_.accepted.fetch_add(1, std::memory_order_relaxed); }
  void uncount_accepted() noexcept { tail_.accepted.fetch_sub(1, std::memory_order_relaxed); }
  std::uint64_t accepted() const noexcept { return tail_.accepted.load(std::memory_order_relaxed); }

  // A claim: tells the writer the record may be abandoned on timeout.
  void mark_claimed(const reservation& r) noexcept {
    // Relaxed: carries no data; the writer only compares it.
    slot(r.count).store(pack(r, detail::ring::kClaimed), std::memory_order_relaxed);
  }
  // Commits a claimed record as `k`; false if the writer abandoned it first.
  bool commit_claim(const reservation& r, detail::ring::kind k) noexcept {
    std::uint64_t expected = pack(r, detail::ring::kClaimed);
    // Release on success: as commit(). Relaxed on failure: we only learn
    // that the writer gave up on the record.
    const bool ok = slot(r.count).compare_exchange_strong(
        expected, pack(r, k), std::memory_order_release, std::memory_order_relaxed);
    wake_.ready.notify_all();
    return ok;
  }

  // ---- writer --------------------------------------------------------------
  // The state of record `count` (see ring_words.h). Acquire: pairs with the
  // commit, so the record's bytes are visible.
  std::uint64_t state(std::uint64_t count) const noexcept {
    return slot(count).load(std::memory_order_acquire);
  }
  // Gives up on a claimed record: true if it was still claimed (its commit
  // will now fail), false if it was committed meanwhile.
  bool abandon(std::uint64_t count, std::uint64_t claimed_state) noexcept {
    const detail::ring::kind k = detail::ring::kAbandoned;
    const std::uint64_t to =
        detail::ring::pack_state(count, k, detail::ring::state_span(claimed_state));
    // Relaxed: the abandoned record's bytes are never read.
    return slot(count).compare_exchange_strong(claimed_state, to, std::memory_order_relaxed);
  }
  // Frees everything before record `count`, byte `at`. Release: our reads of
  // those bytes and slots (and frame destructors) happen before a producer
  // reuses them.
  void release(std::uint64_t count, std::uint64_t at) noexcept {
    head_.value.store(detail::ring::pack_position(count, at), std::memory_order_release);
  }
  // seq_cst: the writer's half of the shutdown handshake.
  std::uint64_t tail() const noexcept { return tail_.value.load(std::memory_order_seq_cst); }

  // Where the content of a record at byte `at` starts (`wraps`: at offset 0).
  const std::byte* content(std::uint64_t at, bool wraps) const noexcept {
    return bytes_.at(at, wraps);
  }
  // A by-reference record's frame object.
  F* frame_at(std::byte* content) const noexcept {
    void* p = content;
    std::size_t space = kFrameRecordBytes;
    return static_cast<F*>(std::align(alignof(F), sizeof(F), p, space));
  }
  F* frame_at(std::uint64_t at, bool wraps) const noexcept {
    return frame_at(const_cast<std::byte*>(content(at, wraps)));
  }
  // A data record's wire bytes (count, ranges): see detail/ring_bytes.h.
  std::uint64_t data_size(std::uint64_t at, std::uint64_t s) const noexcept {
    return bytes_.data_size(at, s);
  }
  template <class Out>
  void data_ranges(std::uint64_t at, std::uint64_t s, Out& out) const {
    bytes_.data_ranges(at, s, out);
  }

  // Blocks until cond() (true) or `deadline` (false); see "Blocking".
  template <class Cond>
  bool wait_readable(Cond&& cond, absl::Time deadline) {
    for (std::uint32_t i = 0; i < Config.spin_before_park; ++i) {
      if (cond()) return true;
      pause();
    }
    return wake_.ready.await(cond, deadline);
  }

  void close() noexcept {
    // Release: ordered before notify_all's fence; the writer's re-check reads it.
    wake_.closed.store(true, std::memory_order_release);
    wake_.ready.notify_all();
  }
  bool closed() const noexcept { return wake_.closed.load(std::memory_order_acquire); }

 private:
  static std::uint64_t pack(const reservation& r, detail::ring::kind k) noexcept {
    return detail::ring::pack_state(r.count, k | (r.wraps ? detail::ring::kWrapFlag : 0), r.span);
  }
  std::atomic<std::uint64_t>& slot(std::uint64_t count) const noexcept {
    return slots_[count & slot_mask_];
  }
  static void pause() noexcept {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }

  struct alignas(detail::kCacheLine) line {
    std::atomic<std::uint64_t> value{0};
  };
  struct alignas(detail::kCacheLine) tail_line {
    std::atomic<std::uint64_t> value{0};
    std::atomic<std::uint64_t> accepted{0};
  };
  struct alignas(detail::kCacheLine) wake_side {
    std::atomic<bool> closed{false};
    event_count ready;  // the writer sleeps here; commits notify
  };

  // Read-only after construction.
  const std::size_t max_bytes_;
  const std::size_t max_records_;
  detail::ring_bytes bytes_;     // a power of two >= max_bytes_
  const std::size_t slot_mask_;  // slots - 1, a power of two >= max_records_
  const std::unique_ptr<std::atomic<std::uint64_t>[]> slots_;
  tail_line tail_;  // CAS by every producer, then the accepted count
  line head_;       // stored by the writer once per batch
  wake_side wake_;
};

// Destroys the frame objects of committed by-reference records the writer
// never took (a ring dropped without a writer, or after a failure).
template <class F, byte_ring_config Config>
byte_ring<F, Config>::~byte_ring() {
  namespace ring = detail::ring;
  const std::uint64_t h = head_.value.load(std::memory_order_acquire);
  const std::uint64_t t = tail_.value.load(std::memory_order_acquire);
  std::uint64_t count = ring::position_count(h), at = ring::position_bytes(h);
  for (std::uint64_t n = ring::count_between(h, t); n > 0; --n, ++count) {
    const std::uint64_t s = state(count);
    if (ring::state_count(s) != (count & ring::kCountMask)) break;  // never committed
    if (ring::state_kind(s) == ring::kFrame) frame_at(at, ring::state_wraps(s))->~F();
    at += ring::state_span(s);
  }
}

}  // namespace funnel

#endif  // FUNNEL_POLICIES_QUEUE_BYTE_RING_H_
