// funnel/bytes.h
// -----------------------------------------------------------------------------
// `funnel::bytes`: an immutable, reference-counted view of a byte buffer, the
// payload type of an outbound frame (the counterpart of Rust's `bytes::Bytes`).
//
// Why this type: a producer hands its payload to the writer thread and forgets
// about it; the writer must be able to keep it alive until the gather write
// that carries it has finished, without copying it into the queue. A
// `std::shared_ptr<const void>` owner plus a (pointer, size) view gives exactly
// that, with three properties a plain `std::shared_ptr<const std::byte[]>`
// lacks:
//   * any container can be adopted without a copy (`adopt(std::move(vec))`);
//   * a sub-range shares its parent's owner (`slice`), so one receive buffer can
//     feed many frames;
//   * static data needs no owner and no allocation (`from_static`).
//
// Thread-safety: like `std::shared_ptr`: distinct `bytes` objects may be used
// from different threads even when they share an owner; one object is not
// safe to mutate (assign) concurrently. The viewed bytes are never mutated.
//
// Allocation: `copy_from` allocates once (a control block with the bytes);
// `adopt` allocates once (a control block holding the moved container);
// `from_static`, `share`, `slice`, copy and move allocate nothing.
#ifndef FUNNEL_BYTES_H_
#define FUNNEL_BYTES_H_

#include <cstddef>
#include <cstring>      // std::memcpy in copy_from
#include <memory>       // std::shared_ptr, std::make_shared_for_overwrite
#include <span>         // the view type handed to sinks and decoders
#include <string>       // adopt(std::string&&)
#include <string_view>  // copy_from / from_static of text
#include <type_traits>
#include <utility>

namespace funnel {

class bytes {
 public:
  // An empty payload. Allocates nothing.
  bytes() noexcept = default;

  // Moving leaves the source empty.
  bytes(bytes&& other) noexcept
      : owner_(std::move(other.owner_)),
        data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)) {}
  bytes& operator=(bytes&& other) noexcept {
    owner_ = std::move(other.owner_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    return *this;
  }
  bytes(const bytes&) = default;
  bytes& operator=(const bytes&) = default;

  // Copies `data` into a new buffer owned by the returned object.
  static bytes copy_from(std::span<const std::byte> data) {
    if (data.empty()) return bytes();
    std::shared_ptr<std::byte[]> owned = std::make_shared_for_overwrite<std::byte[]>(data.size());
    std::memcpy(owned.get(), data.data(), data.size());
    const std::byte* view = owned.get();
    return bytes(std::move(owned), view, data.size());
  }
  static bytes copy_from(std::string_view text) {
    return copy_from(std::as_bytes(std::span(text)));
  }

  // Views `data` without owning it: `data` must outlive every copy of the
  // result (string literals, static tables).
  static bytes from_static(std::span<const std::byte> data) noexcept {
    return bytes(nullptr, data.data(), data.size());
  }
  static bytes from_static(std::string_view text) noexcept {
    return from_static(std::as_bytes(std::span(text)));
  }

  // Takes ownership of a contiguous container of byte-sized elements
  // (std::vector<std::byte>, std::vector<uint8_t>, std::string, ...) without
  // copying its elements.
  template <class Container>
  requires std::is_rvalue_reference_v<Container&&> && requires(const Container& c) {
    {std::span(c)};
    requires sizeof(*std::data(c)) == 1;
  }
  static bytes adopt(Container&& container) {
    auto owner = std::make_shared<const std::remove_cvref_t<Container>>(std::move(container));
    std::span<const std::byte> view = std::as_bytes(std::span(*owner));
    return bytes(std::move(owner), view.data(), view.size());
  }

  // Views `view`, keeping `owner` alive for as long as any copy exists. Use it
  // to hand over memory managed by your own reference-counted object.
  static bytes share(std::shared_ptr<const void> owner, std::span<const std::byte> view) noexcept {
    return bytes(std::move(owner), view.data(), view.size());
  }

  const std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  std::span<const std::byte> span() const noexcept { return {data_, size_}; }
  std::string_view as_string_view() const noexcept {
    return {reinterpret_cast<const char*>(data_), size_};
  }

  // The bytes [offset, offset + length) of this view, sharing its owner.
  // Requires offset + length <= size(); out-of-range arguments are clamped.
  bytes slice(std::size_t offset, std::size_t length) const {
    if (offset > size_) offset = size_;
    if (length > size_ - offset) length = size_ - offset;
    return bytes(owner_, data_ + offset, length);
  }

  // Content equality (not identity).
  friend bool operator==(const bytes& a, const bytes& b) noexcept {
    return a.size_ == b.size_ && (a.size_ == 0 || std::memcmp(a.data_, b.data_, a.size_) == 0);
  }

 private:
  bytes(std::shared_ptr<const void> owner, const std::byte* data, std::size_t size) noexcept
      : owner_(std::move(owner)), data_(data), size_(size) {}

  std::shared_ptr<const void> owner_;  // null for empty and static views
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace funnel

#endif  // FUNNEL_BYTES_H_
