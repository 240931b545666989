// funnel/policies/sink/detail/posix_own_fd.h
// -----------------------------------------------------------------------------
// INTERNAL to posix_writev_sink: do not rely on anything here.
//
// `take_posix_sink_fds(fd, interruptible, f)`: the fds posix_writev_sink
// writes and waits through, taken once at construction, never changing a
// flag of an open file description that other fds share:
//   * sockets, files, read-only fds: a dup (F_DUPFD_CLOEXEC, 3 or above);
//   * pipes, FIFOs, character devices (`interruptible`): a new, non-blocking
//     open of /proc/self/fd/N (/dev/fd/N elsewhere), checked to be the same
//     file; a pty master (reopening creates a new pty) and an fd that cannot
//     be reopened are refused with FailedPrecondition naming the way out; a
//     FIFO with no reader (ENXIO) gets a dup: its writes fail at once;
//   * a non-blocking wake pipe for cancel(), where writes may wait.
// Errors name the caller's fd, what it is, the step and the errno text.
// Allocation: the path string. Thread-safety: a constructor's.
#ifndef FUNNEL_POLICIES_SINK_DETAIL_POSIX_OWN_FD_H_
#define FUNNEL_POLICIES_SINK_DETAIL_POSIX_OWN_FD_H_

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/sysmacros.h>  // major, minor
#endif

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace funnel::detail {

struct posix_sink_fds {
  int own = -1;            // written through
  int wake[2] = {-1, -1};  // cancel() writes [1]; poll() watches [0]
  bool is_socket = false;
};

// An fd of 0, 1 or 2 (the process had closed its standard streams) moved
// to 3 or above, so that nothing written to stdout or stderr reaches it.
inline int above_stdio(int fd) noexcept {
  if (fd < 0 || fd > 2) return fd;
  const int moved = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
  const int err = errno;
  ::close(fd);
  errno = err;
  return moved;
}

inline absl::Status sink_errno_status(int fd, int err, const char* what, const char* step) {
  return absl::ErrnoToStatus(
      err, absl::StrCat("posix_writev_sink for fd ", fd, " (", what, "): ", step));
}

inline absl::Status reopen_nonblocking(int fd, const struct stat& st, int flags, const char* what,
                                       posix_sink_fds& f) {
  auto refuse = [&](absl::string_view why) {
    return absl::FailedPreconditionError(absl::StrCat(
        "posix_writev_sink: fd ", fd, " (", what,
        ") has no non-blocking description of its "
        "own for the sink: ",
        why,
        "; set posix_writev_sink::options::interruptible_pipes = "
        "false to write to it blocking; close(deadline) then waits for a write the reader "
        "never takes"));
  };
#ifdef __linux__
  const bool ptmx = major(st.st_rdev) == 5 && minor(st.st_rdev) == 2;  // also /dev/pts/ptmx
  const std::string path = absl::StrCat("/proc/self/fd/", fd);
#else
  struct stat dev_ptmx;
  const bool ptmx = ::stat("/dev/ptmx", &dev_ptmx) == 0 && dev_ptmx.st_rdev == st.st_rdev;
  const std::string path = absl::StrCat("/dev/fd/", fd);
#endif
  if (S_ISCHR(st.st_mode) && ptmx) {
    return refuse("it is a pty master, and reopening one creates a new pty");
  }
  const int keep = flags & (O_APPEND | O_SYNC | O_DSYNC);
  const int r = ::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | keep);
  if (r < 0) {
    const int err = errno;
    if (err == ENXIO && S_ISFIFO(st.st_mode)) return absl::OkStatus();  // no reader: a dup
    if (err == EMFILE || err == ENFILE || err == ENOMEM) {
      return sink_errno_status(fd, err, what, "cannot take an fd of its own (open)");
    }
    const absl::Status e = absl::ErrnoToStatus(err, absl::StrCat("open ", path));
    return refuse(e.message());
  }
  f.own = above_stdio(r);
  if (f.own < 0) return sink_errno_status(fd, errno, what, "cannot take an fd of its own (dup)");
  struct stat mine;
  const bool same = ::fstat(f.own, &mine) == 0 && mine.st_dev == st.st_dev &&
                    mine.st_ino == st.st_ino && mine.st_rdev == st.st_rdev;
  const int got = ::fcntl(f.own, F_GETFL);
  if (!same || got < 0 || (got & O_NONBLOCK) == 0) {
    return refuse(absl::StrCat(
        path, same ? " gave a shared description (a dup), not a new one" : " opened another file"));
  }
  return absl::OkStatus();
}

// Takes the sink's own fd for the caller's `fd` (and, where writes may wait,
// its wake pipe) into `f`: OK, or why not (the fds taken so far stay in `f`,
// for the caller to close).
inline absl::Status take_posix_sink_fds(int fd, bool interruptible, posix_sink_fds& f) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("posix_writev_sink: fstat of fd ", fd));
  }
  f.is_socket = S_ISSOCK(st.st_mode);
  const bool pipe_or_device = S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode);
  const char* what = f.is_socket            ? "a socket"
                     : S_ISFIFO(st.st_mode) ? "a pipe or FIFO"
                     : S_ISCHR(st.st_mode)  ? "a character device"
                                            : "a file";
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return sink_errno_status(fd, errno, what, "cannot read its flags (fcntl)");
  if (pipe_or_device && interruptible && (flags & O_ACCMODE) != O_RDONLY) {
    if (absl::Status s = reopen_nonblocking(fd, st, flags, what, f); !s.ok()) return s;
  }
  if (f.own < 0) {  // sockets, files, read-only fds, interruptible_pipes = false, no reader
    f.own = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (f.own < 0) return sink_errno_status(fd, errno, what, "cannot take an fd of its own (dup)");
  }
  if (!f.is_socket && !pipe_or_device) return absl::OkStatus();  // no wait, no wake pipe
#ifdef __linux__
  const int made = ::pipe2(f.wake, O_NONBLOCK | O_CLOEXEC);
#else
  const int made = ::pipe(f.wake);
#endif
  if (made != 0) {
    f.wake[0] = f.wake[1] = -1;
    return sink_errno_status(fd, errno, what, "cannot make its wake pipe (pipe)");
  }
  for (int& w : f.wake) {
    w = above_stdio(w);
    if (w < 0 || ::fcntl(w, F_SETFL, O_NONBLOCK) != 0 || ::fcntl(w, F_SETFD, FD_CLOEXEC) != 0) {
      return sink_errno_status(fd, errno, what, "cannot make its wake pipe (fcntl)");
    }
  }
  return absl::OkStatus();
}

}  // namespace funnel::detail

#endif  // FUNNEL_POLICIES_SINK_DETAIL_POSIX_OWN_FD_H_
