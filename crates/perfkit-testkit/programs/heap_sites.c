/* Allocation sites whose sizes are known, for the heap profilers' tests.
 *
 *   heap_sites peak    holds 24 MiB in hold_peak(), frees it, then holds 1 MiB elsewhere
 *   heap_sites leak    leaks 3 MiB from leak_three_mib(); everything else is freed
 *   heap_sites churn   200,000 short-lived 64-byte blocks from churn()
 *   heap_sites stress  16 threads allocate with every allocator function, the process forks
 *                      a child that allocates, and a thread calls exit() at the end
 *   heap_sites wait    leaks 3 MiB from leak_three_mib(), prints "ready", and waits for a
 *                      signal to end it
 *   heap_sites wait-small-stack
 *                      the same, but only a thread with a 16 KiB stack can take SIGINT and
 *                      SIGTERM
 *   heap_sites killed-while-exiting
 *                      leaks 3 MiB, sends itself SIGTERM (which only a waiting thread can
 *                      take), and returns from main at once
 *
 * Built with -O1 -fno-builtin-malloc (and the rest) so that the compiler keeps every call.
 */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KIB 1024
#define MIB (1024 * 1024)

static volatile unsigned long sink;

__attribute__((noinline)) static char **hold_peak(void) {
    int n = 24 * MIB / (16 * KIB);
    char **blocks = malloc(n * sizeof(char *));
    for (int i = 0; i < n; i++) {
        blocks[i] = malloc(16 * KIB);
        memset(blocks[i], 1, 16 * KIB);
    }
    return blocks;
}

__attribute__((noinline)) static char *hold_later(void) {
    char *block = malloc(MIB);
    memset(block, 3, MIB);
    return block;
}

__attribute__((noinline)) static void leak_three_mib(void) {
    for (int i = 0; i < 3 * MIB / (4 * KIB); i++) {
        char *block = malloc(4 * KIB);
        memset(block, 2, 4 * KIB);
        sink += (unsigned long)block;
    }
}

__attribute__((noinline)) static void churn(int n) {
    for (int i = 0; i < n; i++) {
        char *block = malloc(64);
        block[0] = (char)i;
        sink += block[0];
        free(block);
    }
}

/* Each thread: every allocation function, everything freed. */
__attribute__((noinline)) static void *work(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < 2000; i++) {
        char *a = malloc(100 + i % 300);
        char *b = calloc(10, 50 + id);
        a = realloc(a, 1000 + i % 5000);
        void *c = NULL;
        if (posix_memalign(&c, 64, 256) != 0) abort();
        void *d = aligned_alloc(128, 512);
        void *e = memalign(32, 96);
        void *f = valloc(200);
        char *g = reallocarray(NULL, 16, 24);
        a[0] = b[0] = 1;
        sink += (unsigned long)c ^ (unsigned long)d ^ (unsigned long)e ^ (unsigned long)f;
        free(a); free(b); free(c); free(d); free(e); free(f); free(g);
        /* realloc to 0 bytes frees the block (glibc) and returns NULL. */
        sink += (unsigned long)realloc(malloc(10), 0);
    }
    return NULL;
}

__attribute__((noinline)) static void *exit_from_thread(void *arg) {
    (void)arg;
    fflush(stdout);
    exit(0);
}

static int stress(void) {
    pthread_t threads[16];
    for (long i = 0; i < 16; i++) pthread_create(&threads[i], NULL, work, (void *)i);
    pid_t child = fork();
    if (child == 0) {
        /* The child allocates and exits normally: its profile is not the parent's. */
        work((void *)99);
        exit(0);
    }
    for (int i = 0; i < 16; i++) pthread_join(threads[i], NULL);
    int status = 0;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 3;
    pthread_t last;
    pthread_create(&last, NULL, exit_from_thread, NULL);
    for (;;) pause();
}

static void *wait_for_signals(void *arg) {
    (void)arg;
    for (;;) pause();
    return NULL;
}

/* Starts a thread with a stack of `size` bytes that waits for signals, and blocks SIGINT and
 * SIGTERM in the calling thread, so that only the new one can take them. */
static void leave_signals_to_a_thread(size_t size) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, size);
    pthread_t waiter;
    if (pthread_create(&waiter, &attr, wait_for_signals, NULL) != 0) exit(9);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "peak";
    if (strcmp(mode, "peak") == 0) {
        char **blocks = hold_peak();
        for (int i = 0; i < 24 * MIB / (16 * KIB); i++) free(blocks[i]);
        free(blocks);
        free(hold_later());
    } else if (strcmp(mode, "leak") == 0) {
        leak_three_mib();
    } else if (strcmp(mode, "churn") == 0) {
        churn(200000);
    } else if (strcmp(mode, "stress") == 0) {
        return stress();
    } else if (strcmp(mode, "wait") == 0) {
        leak_three_mib();
        puts("ready");
        fflush(stdout);
        for (;;) pause();
    } else if (strcmp(mode, "wait-small-stack") == 0) {
        leak_three_mib();
        leave_signals_to_a_thread(16 * KIB);
        puts("ready");
        fflush(stdout);
        for (;;) pause();
    } else if (strcmp(mode, "killed-while-exiting") == 0) {
        leak_three_mib();
        leave_signals_to_a_thread(256 * KIB);
        kill(getpid(), SIGTERM);
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}
