// funnel/claim.h
// -----------------------------------------------------------------------------
// `basic_claim<Core>`: zero-copy sending over a byte queue (byte_ring). A
// producer claims `n` bytes of the ring, writes the frame's wire bytes
// straight into them, and commits; nothing is copied afterwards.
//
//   auto c = h.claim(n);                  // StatusOr<claim>; waits as send() does
//   if (!c.ok()) return c.status();
//   encode_into(c->data());               // exactly n bytes, header included
//   absl::Status s = c->commit();         // the frame is accepted (or why not)
//
// Errors of claim()/try_claim(): those of send() (closed, failed,
// DeadlineExceeded after backpressure_timeout, ResourceExhausted from
// try_claim), and InvalidArgument for 0 bytes or more than half the ring
// (a claim is contiguous and may need padding up to the ring's end).
//
// A claim is move-only. Dropping it, or abort(), turns its bytes into padding
// the writer skips: nothing is sent and nothing counted. commit() after the
// writer gave up on the claim returns the writer's failure and sends nothing:
// DeadlineExceeded naming claim_timeout when the writer waited that long for
// this claim and stopped (see options.h), or whatever else stopped it (a sink
// error, a close deadline).
//
// Bounds: write exactly size() bytes at data(). Bytes written past them land
// in the next record of the ring, another producer's frame: undefined
// behaviour that nothing detects (the ring is one allocation, so ASan does
// not see it either).
//
// Order: claims are written in the order they were claimed, not committed;
// a claim holds back every frame claimed or sent after it until it is
// committed or aborted, so fill it promptly and never block while holding it.
//
// Thread-safety: a claim is used by one thread at a time (it may move
// between threads). Allocation: none.
#ifndef FUNNEL_CLAIM_H_
#define FUNNEL_CLAIM_H_

#include <cstddef>
#include <memory>
#include <span>
#include <utility>

#include "absl/status/status.h"

namespace funnel {

template <class Core>
class basic_writer_handle;

template <class Core>
class basic_claim {
 public:
  using reservation = typename Core::reservation;

  basic_claim() = default;  // empty: active() is false
  basic_claim(basic_claim&& other) noexcept
      : core_(std::move(other.core_)), r_(other.r_), data_(other.data_), size_(other.size_) {
    other.clear();
  }
  basic_claim& operator=(basic_claim&& other) noexcept {
    if (this != &other) {
      abort();
      core_ = std::move(other.core_);
      r_ = other.r_;
      data_ = other.data_;
      size_ = other.size_;
      other.clear();
    }
    return *this;
  }
  basic_claim(const basic_claim&) = delete;
  basic_claim& operator=(const basic_claim&) = delete;
  ~basic_claim() { abort(); }

  // The claimed bytes: write the frame's wire bytes here, all of them.
  std::span<std::byte> data() const noexcept { return {data_, size_}; }
  std::size_t size() const noexcept { return size_; }
  // True until committed, aborted or moved from.
  bool active() const noexcept { return core_ != nullptr; }

  // Publishes the bytes as one frame. OK: accepted (written or counted lost
  // like any sent frame). The claim is empty afterwards, whatever the result.
  absl::Status commit() {
    if (!core_) {
      return absl::FailedPreconditionError(
          "claim is empty (committed, aborted or moved from); nothing sent");
    }
    absl::Status s = core_->commit_claim(r_, size_);
    clear();
    return s;
  }

  // Gives the bytes back as padding; nothing is sent. No-op when empty.
  void abort() noexcept {
    if (!core_) return;
    core_->abort_claim(r_);
    clear();
  }

 private:
  template <class>
  friend class basic_writer_handle;
  basic_claim(std::shared_ptr<Core> core, const reservation& r, std::byte* data,
              std::size_t size) noexcept
      : core_(std::move(core)), r_(r), data_(data), size_(size) {}

  void clear() noexcept {
    core_.reset();
    data_ = nullptr;
    size_ = 0;
  }

  std::shared_ptr<Core> core_;  // keeps the ring alive while claimed
  reservation r_{};
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace funnel

#endif  // FUNNEL_CLAIM_H_
