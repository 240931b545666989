// funnel/testing/fault_writev.h
// -----------------------------------------------------------------------------
// `scripted_writev`: a stand-in for POSIX ::writev that injects, call by call,
// what a sink must handle itself (EINTR, EAGAIN, short counts, any errno)
// and otherwise calls the real ::writev.
//
// Why at the system call: the Sink concept keeps EINTR and EAGAIN inside the
// sink (it retries or waits), so they can't be injected from outside a sink
// (fault_sink.h injects what does cross the boundary). A custom sink whose
// system call is a parameter can be tested with this:
//
//   struct real_writev {
//     ssize_t operator()(int fd, const iovec* iov, int n) const { return ::writev(fd, iov, n); }
//   };
//   template <class Writev = real_writev>
//   class my_fd_sink { ... Writev writev_; ... writev_(fd_, iov, n) ... };
//
//   scripted_writev w({fd_fault::eintr(), fd_fault::eagain(), fd_fault::short_write(3)});
//   auto calls = w.state();
//   writer wr(my_fd_sink<scripted_writev>(fd, w));
//   ... expect the reader to get every byte, calls->eintr() == 1, ...
//
// Script: one entry per call, in order; once it is used up, every call goes
// to ::writev unchanged.
//   fd_fault::pass()          call ::writev;
//   fd_fault::eintr()         return -1 with errno EINTR (nothing written);
//   fd_fault::eagain()        return -1 with errno EAGAIN (nothing written):
//                             a sink that then polls for POLLOUT finds a
//                             writable fd writable at once;
//   fd_fault::error(errnum)   return -1 with errno `errnum` (e.g. EPIPE);
//   fd_fault::short_write(k)  call ::writev with only the first k bytes
//                             (k >= 1), so it returns at most k.
//
// Copies share one script and one state (like a shared_ptr), so the object
// can be copied into the sink and still be inspected through state().
//
// Thread-safety: calls may come from any thread (the state has a mutex); the
// script is consumed in call order. POSIX only.
#ifndef FUNNEL_TESTING_FAULT_WRITEV_H_
#define FUNNEL_TESTING_FAULT_WRITEV_H_

#include <errno.h>
#include <sys/types.h>  // ssize_t
#include <sys/uio.h>    // iovec, writev

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace funnel::testing {

// One scripted writev call.
class fd_fault {
 public:
  static fd_fault pass() { return fd_fault(kind::pass, 0); }
  static fd_fault eintr() { return fd_fault(kind::error, EINTR); }
  static fd_fault eagain() { return fd_fault(kind::error, EAGAIN); }
  static fd_fault error(int errnum) { return fd_fault(kind::error, errnum); }
  static fd_fault short_write(std::size_t max_bytes) {
    return fd_fault(kind::short_write, std::max<std::size_t>(1, max_bytes));
  }

 private:
  friend class scripted_writev;
  enum class kind { pass, error, short_write };
  fd_fault(kind k, std::size_t n) : kind_(k), n_(n) {}

  kind kind_;
  std::size_t n_;  // errno for kind::error, max bytes for kind::short_write
};

// What a scripted_writev did, readable from any thread.
class scripted_writev_state {
 public:
  std::uint64_t calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::uint64_t eintr() const {
    absl::MutexLock lock(&mu_);
    return eintr_;
  }
  std::uint64_t eagain() const {
    absl::MutexLock lock(&mu_);
    return eagain_;
  }
  // Injected errors other than EINTR and EAGAIN.
  std::uint64_t other_errors() const {
    absl::MutexLock lock(&mu_);
    return other_errors_;
  }
  // Bytes the real ::writev wrote.
  std::uint64_t bytes_written() const {
    absl::MutexLock lock(&mu_);
    return bytes_written_;
  }
  std::size_t script_remaining() const {
    absl::MutexLock lock(&mu_);
    return script_.size() - next_;
  }

  explicit scripted_writev_state(std::vector<fd_fault> script) : script_(std::move(script)) {}

 private:
  friend class scripted_writev;
  mutable absl::Mutex mu_;
  std::vector<fd_fault> script_ ABSL_GUARDED_BY(mu_);
  std::size_t next_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t eintr_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t eagain_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t other_errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::uint64_t bytes_written_ ABSL_GUARDED_BY(mu_) = 0;
};

class scripted_writev {
 public:
  explicit scripted_writev(std::vector<fd_fault> script = {})
      : state_(std::make_shared<scripted_writev_state>(std::move(script))) {}

  // Same contract as ::writev(fd, iov, iovcnt).
  ssize_t operator()(int fd, const iovec* iov, int iovcnt) const {
    fd_fault step = fd_fault::pass();
    {
      absl::MutexLock lock(&state_->mu_);
      ++state_->calls_;
      if (state_->next_ < state_->script_.size()) step = state_->script_[state_->next_++];
      if (step.kind_ == fd_fault::kind::error) {
        if (step.n_ == EINTR) {
          ++state_->eintr_;
        } else if (step.n_ == EAGAIN) {  // == EWOULDBLOCK on Linux
          ++state_->eagain_;
        } else {
          ++state_->other_errors_;
        }
      }
    }
    ssize_t n;
    switch (step.kind_) {
      case fd_fault::kind::error:
        errno = static_cast<int>(step.n_);
        return -1;
      case fd_fault::kind::short_write: {
        std::vector<iovec> cut;
        std::size_t left = step.n_;
        for (int i = 0; i < iovcnt && left > 0; ++i) {
          const std::size_t take = std::min(left, iov[i].iov_len);
          cut.push_back({iov[i].iov_base, take});
          left -= take;
        }
        n = ::writev(fd, cut.data(), static_cast<int>(cut.size()));
        break;
      }
      case fd_fault::kind::pass:
      default:
        n = ::writev(fd, iov, iovcnt);
        break;
    }
    if (n > 0) {
      const int saved = errno;
      absl::MutexLock lock(&state_->mu_);
      state_->bytes_written_ += static_cast<std::uint64_t>(n);
      errno = saved;
    }
    return n;
  }

  std::shared_ptr<const scripted_writev_state> state() const { return state_; }

 private:
  std::shared_ptr<scripted_writev_state> state_;
};

}  // namespace funnel::testing

#endif  // FUNNEL_TESTING_FAULT_WRITEV_H_
