// Smoke test of the build setup: Abseil (built from source), GoogleTest,
// GoogleMock and Boost.Hana all compile, link and run.
#include <boost/hana.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

namespace hana = boost::hana;
using ::testing::ElementsAre;

// A consumer blocks on a CondVar until a producer hands over a value: this
// exercises Mutex's slow path (waking a waiter on another thread). Under TSan,
// Abseil 20220623 can report a false race there (allocator mmap vs.
// Waiter::Post), fixed by third_party/abseil/0002-tsan-mutex-false-positive.patch.
TEST(SmokeTest, CondVarHandOff) {
  absl::Mutex mu;
  absl::CondVar cv;
  int value = 0;  // guarded by mu
  for (int round = 1; round <= 5; ++round) {
    std::thread consumer([&] {
      absl::MutexLock lock(&mu);
      while (value != round) cv.Wait(&mu);
    });
    absl::SleepFor(absl::Milliseconds(10));  // let the consumer block first
    {
      absl::MutexLock lock(&mu);
      value = round;
      cv.SignalAll();
    }
    consumer.join();
  }
  absl::MutexLock lock(&mu);
  EXPECT_EQ(value, 5);
}

class Counter {
 public:
  void Add(int n) {
    absl::MutexLock lock(&mu_);
    value_ += n;
  }
  int value() const {
    absl::MutexLock lock(&mu_);
    return value_;
  }

 private:
  mutable absl::Mutex mu_;
  int value_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST(SmokeTest, MutexGuardsTwoThreads) {
  Counter counter;
  auto work = [&counter] {
    for (int i = 0; i < 1000; ++i) counter.Add(1);
  };
  std::thread a(work);
  std::thread b(work);
  a.join();
  b.join();
  EXPECT_EQ(counter.value(), 2000);
}

// Abseil's vocabulary types are the std:: ones (third_party/abseil/0001-*.patch).
TEST(SmokeTest, StdVocabularyTypes) {
  static_assert(std::is_same_v<absl::string_view, std::string_view>);
  static_assert(std::is_same_v<absl::optional<int>, std::optional<int>>);
  const std::string_view sv = "a,b";
  EXPECT_EQ(absl::StrCat(sv, "!"), "a,b!");
  std::vector<std::string_view> parts = absl::StrSplit(sv, ',');
  EXPECT_THAT(parts, ElementsAre("a", "b"));
}

absl::StatusOr<int> ParsePositive(int n) {
  if (n <= 0) return absl::InvalidArgumentError("not positive");
  return n;
}

TEST(SmokeTest, StatusAndStatusOr) {
  EXPECT_TRUE(absl::OkStatus().ok());
  absl::StatusOr<int> good = ParsePositive(3);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  absl::StatusOr<int> bad = ParsePositive(-1);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
}

int Sum(absl::Span<const int> values, absl::FunctionRef<int(int)> f) {
  int total = 0;
  for (int v : values) total += f(v);
  return total;
}

TEST(SmokeTest, SpanInlinedVectorFunctionRef) {
  absl::InlinedVector<int, 4> v = {1, 2, 3};
  v.push_back(4);
  v.push_back(5);  // spills to the heap
  EXPECT_THAT(v, ElementsAre(1, 2, 3, 4, 5));
  EXPECT_EQ(Sum(v, [](int x) { return 2 * x; }), 30);
}

TEST(SmokeTest, Time) {
  const absl::Time start = absl::Now();
  absl::SleepFor(absl::Milliseconds(1));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(1));
  EXPECT_EQ(absl::ToInt64Milliseconds(absl::Seconds(2)), 2000);
}

class Greeter {
 public:
  virtual ~Greeter() = default;
  virtual std::string Greet(const std::string& name) = 0;
};

class MockGreeter : public Greeter {
 public:
  MOCK_METHOD(std::string, Greet, (const std::string& name), (override));
};

TEST(SmokeTest, GMock) {
  MockGreeter greeter;
  EXPECT_CALL(greeter, Greet("funnel")).WillOnce(::testing::Return("hi funnel"));
  EXPECT_EQ(greeter.Greet("funnel"), "hi funnel");
}

TEST(SmokeTest, HanaMap) {
  auto m = hana::make_map(hana::make_pair(hana::type_c<int>, std::string("int")),
                          hana::make_pair(hana::type_c<double>, std::string("double")));
  static_assert(hana::contains(m, hana::type_c<int>));
  static_assert(!hana::contains(m, hana::type_c<char>));
  EXPECT_EQ(m[hana::type_c<double>], "double");
  EXPECT_EQ(hana::length(m), hana::size_c<2>);
}

}  // namespace
