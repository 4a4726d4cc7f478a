/* A program linked with its own allocator (own_allocator.c): strdup, calloc, realloc and
 * free must all reach that allocator, which aborts on a block it did not make. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int own_allocator_made(void *p);
int main(void) {
    char **keep = calloc(1000, sizeof *keep);
    if (!own_allocator_made(keep)) return 3;
    for (int i = 0; i < 1000; i++) {
        keep[i] = strdup("a string from strdup");
        if (!own_allocator_made(keep[i])) return 3;
        keep[i] = realloc(keep[i], 4096);
        if (!own_allocator_made(keep[i])) return 3;
    }
    for (int i = 0; i < 1000; i++) free(keep[i]);
    free(keep);
    puts("ok");
    return 0;
}
