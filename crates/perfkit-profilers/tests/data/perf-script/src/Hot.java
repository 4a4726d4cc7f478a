// Java: JIT-compiled methods in named threads (names with spaces), inlining, a lambda.
import java.util.*;
public class Hot {
  static long fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
  static long sortWork(int n) { int[] a = new int[n]; for (int i = 0; i < n; i++) a[i] = (i * 7919) % 100003; Arrays.sort(a); return a[n / 2]; }
  public static void main(String[] args) throws Exception {
    Thread t = new Thread(() -> { long s = 0; for (int r = 0; r < 30; r++) s += sortWork(400000); System.out.println(s); }, "Sort Worker 1");
    t.start();
    Map<String, Integer> m = new HashMap<>();
    for (int i = 0; i < 2000000; i++) m.merge("k" + (i % 10007), 1, Integer::sum);
    System.out.println(fib(34) + " " + m.size());
    t.join();
  }
}
