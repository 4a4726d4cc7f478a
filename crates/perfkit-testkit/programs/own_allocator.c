/* A malloc of its own, as jemalloc or tcmalloc is to a program that links it: blocks carry a
 * header only this allocator knows, and freeing a block it did not make aborts. Like those,
 * it calls its own internal functions, not its exported ones, from realloc and calloc. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
#define MAGIC 0x6d79616c6c6f6321ull
struct header { uint64_t magic; uint64_t size; };
static void *own_malloc(size_t size) {
    struct header *h = __libc_malloc(sizeof *h + size);
    if (!h) return NULL;
    h->magic = MAGIC; h->size = size;
    return h + 1;
}
static void own_free(void *p) {
    if (!p) return;
    struct header *h = (struct header *)p - 1;
    if (h->magic != MAGIC) abort();
    h->magic = 0;
    __libc_free(h);
}
void *malloc(size_t size) { return own_malloc(size); }
void free(void *p) { own_free(p); }
void *calloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return NULL;
    void *p = own_malloc(n * size);
    if (p) memset(p, 0, n * size);
    return p;
}
void *realloc(void *p, size_t size) {
    if (!p) return own_malloc(size);
    struct header *h = (struct header *)p - 1;
    if (h->magic != MAGIC) abort();
    void *q = own_malloc(size);
    if (!q) return NULL;
    memcpy(q, p, h->size < size ? h->size : size);
    own_free(p);
    return q;
}
size_t malloc_usable_size(void *p) { return p ? ((struct header *)p - 1)->size : 0; }
/* Whether this allocator made the block at p. */
int own_allocator_made(void *p) { return p && ((struct header *)p - 1)->magic == MAGIC; }
