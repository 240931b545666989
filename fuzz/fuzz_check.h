// fuzz/fuzz_check.h
// -----------------------------------------------------------------------------
// FUZZ_CHECK(cond) << "context": the assertion of the fuzz targets. When
// `cond` is false it prints the file, line, condition and the streamed
// context to stderr and calls std::abort(), which libFuzzer reports as a
// crash (and saves the input), and which fails the regression test that
// replays the corpus under `bazel test`. Independent of NDEBUG.
#ifndef FUNNEL_FUZZ_FUZZ_CHECK_H_
#define FUNNEL_FUZZ_FUZZ_CHECK_H_

#include <cstdlib>
#include <iostream>
#include <sstream>

namespace funnel::fuzzing {

class check_failure {
 public:
  check_failure(const char* file, int line, const char* condition) {
    message_ << file << ":" << line << ": FUZZ_CHECK failed: " << condition << ": ";
  }
  [[noreturn]] ~check_failure() {
    std::cerr << message_.str() << std::endl;
    std::abort();
  }
  template <class T>
  check_failure& operator<<(const T& v) {
    message_ << v;
    return *this;
  }

 private:
  std::ostringstream message_;
};

}  // namespace funnel::fuzzing

// A loop rather than if/else, so that `if (x) FUZZ_CHECK(y) << z;` has no
// dangling else; the body never runs twice (check_failure aborts).
#define FUZZ_CHECK(cond) \
  while (!(cond)) ::funnel::fuzzing::check_failure(__FILE__, __LINE__, #cond)

#endif  // FUNNEL_FUZZ_FUZZ_CHECK_H_
