// C++ with templates, lambdas, operators and std containers: long demangled names with spaces,
// parentheses, `::`, `<...>` and `operator()`.
#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>
namespace app { namespace detail {
template <typename T, int N> struct Matrix {
  std::vector<T> v = std::vector<T>(N * N, T(1));
  __attribute__((noinline)) Matrix operator*(const Matrix &o) const {
    Matrix r; for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) { T s{}; for (int k = 0; k < N; k++) s += v[i*N+k] * o.v[k*N+j]; r.v[i*N+j] = s; } return r; }
};
}}
__attribute__((noinline)) double run_map(int n) {
  std::map<std::string, double> m;
  for (int i = 0; i < n; i++) m[std::to_string(i % 5000)] += i;
  double s = 0; for (auto &kv : m) s += kv.second; return s;
}
int main() {
  app::detail::Matrix<double, 120> a, b;
  double acc = 0;
  auto step = [&](int k) { auto c = a * b; acc += c.v[k]; };
  std::function<void(int)> f = step;
  for (int k = 0; k < 12; k++) f(k);
  acc += run_map(600000);
  std::vector<int> v(3000000); for (size_t i = 0; i < v.size(); i++) v[i] = (i * 7919) % 100003;
  std::sort(v.begin(), v.end(), [](int x, int y) { return x > y; });
  printf("%f %d\n", acc, v[0]);
}
