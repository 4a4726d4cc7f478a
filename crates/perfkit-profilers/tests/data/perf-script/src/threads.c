// Threads with the names real programs give them: cut inside a UTF-8 character at 15 bytes,
// with spaces, with digits as words, with colons.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
static volatile unsigned long sink;
static __attribute__((noinline)) unsigned long spin_leaf(unsigned long n) {
  unsigned long x = sink;
  for (unsigned long i = 0; i < n; i++) x += i * i ^ (x >> 3);
  return x;
}
static __attribute__((noinline)) unsigned long spin_mid(unsigned long n) { return spin_leaf(n) + 1; }
static void *worker(void *arg) {
  prctl(PR_SET_NAME, (const char *)arg);
  for (int r = 0; r < 200; r++) sink += spin_mid(2000000);
  return 0;
}
int main(void) {
  const char *names[] = {"ab\xe6\x95\xb0\xe6\x8d\xae\xe5\xa4\x84\xe7\x90\x86\xe7\xba\xbf\xe7\xa8\x8b", "V8 WorkerThread", "pool 12 worker", "rayon:w1"};
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], 0, worker, (void *)names[i]);
  for (int i = 0; i < 4; i++) pthread_join(t[i], 0);
  printf("%lu\n", sink);
  return 0;
}
