/* Counts the words of a text file: a chained hash table of strdup'd words, grown by realloc,
 * then the entries sorted by count. Allocation-heavy in the way text tools are: one small
 * block per distinct word, short-lived line buffers, a table that grows. Frees everything.
 *
 *   wordcount FILE [ROUNDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    char *word;
    long count;
    struct entry *next;
};

static struct entry **table;
static size_t buckets = 1024, entries;

static size_t hash(const char *s) {
    size_t h = 1469598103934665603u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static void grow(void) {
    size_t old = buckets;
    buckets *= 2;
    table = realloc(table, buckets * sizeof *table);
    memset(table + old, 0, old * sizeof *table);
    for (size_t b = 0; b < old; b++) {
        struct entry **link = &table[b];
        while (*link) {
            struct entry *e = *link;
            size_t to = hash(e->word) & (buckets - 1);
            if (to != b) {
                *link = e->next;
                e->next = table[to];
                table[to] = e;
            } else {
                link = &e->next;
            }
        }
    }
}

static void add(const char *word) {
    size_t b = hash(word) & (buckets - 1);
    for (struct entry *e = table[b]; e; e = e->next) {
        if (strcmp(e->word, word) == 0) {
            e->count++;
            return;
        }
    }
    struct entry *e = malloc(sizeof *e);
    e->word = strdup(word);
    e->count = 1;
    e->next = table[b];
    table[b] = e;
    if (++entries > buckets) grow();
}

static int by_count(const void *a, const void *b) {
    const struct entry *x = *(struct entry *const *)a, *y = *(struct entry *const *)b;
    return (y->count > x->count) - (y->count < x->count);
}

static long count_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        perror(path);
        exit(2);
    }
    table = calloc(buckets, sizeof *table);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        /* A copy per line, as a tokenizer that keeps its input would. */
        char *copy = strdup(line);
        for (char *w = strtok(copy, " \t\n"); w; w = strtok(NULL, " \t\n")) add(w);
        free(copy);
    }
    free(line);
    fclose(f);
    struct entry **all = malloc(entries * sizeof *all);
    size_t n = 0;
    for (size_t b = 0; b < buckets; b++)
        for (struct entry *e = table[b]; e; e = e->next) all[n++] = e;
    qsort(all, n, sizeof *all, by_count);
    long top = n ? all[0]->count : 0;
    for (size_t i = 0; i < n; i++) {
        free(all[i]->word);
        free(all[i]);
    }
    free(all);
    free(table);
    table = NULL;
    buckets = 1024;
    entries = 0;
    return top;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: wordcount FILE [ROUNDS]\n");
        return 2;
    }
    int rounds = argc > 2 ? atoi(argv[2]) : 1;
    long top = 0;
    for (int r = 0; r < rounds; r++) top += count_file(argv[1]);
    printf("%ld\n", top);
    return 0;
}
