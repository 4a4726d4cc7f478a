// Grows its heap in steps, frees one block early (massif takes its peak snapshot at a free)
// and never frees again: the last snapshots are larger than the one massif marks as peak.
#include <stdlib.h>
#include <string.h>
static void *keep[4096];
__attribute__((noinline)) static void *grow_table(size_t n) { void *p = malloc(n); memset(p, 1, n); return p; }
__attribute__((noinline)) static void *grow_index(size_t n) { void *p = calloc(1, n); return p; }
int main(void) {
  void *early = grow_table(1 << 20);
  free(early);
  for (int i = 0; i < 400; i++) keep[i] = (i % 3) ? grow_table(256 << 10) : grow_index(128 << 10);
  return keep[7] == 0;
}
