/* Three threads each compute eight long chunks from a clock seed and call
 * chunk_done after each; main joins them (pthread_join waits on the tid
 * the kernel clears at a thread's exit) and prints every chunk's value. A
 * debugger's snapshots of this process copy all its threads. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define THREADS 3
#define CHUNKS 8

static unsigned long values[THREADS][CHUNKS];
static unsigned long seed;
static long rounds = 6000000;

__attribute__((noinline)) void chunk_done(int thread, int chunk, unsigned long value) {
    values[thread][chunk] = value;
}

__attribute__((noinline)) void all_done(unsigned long total) { seed ^= total; }

static void *worker(void *arg) {
    int thread = (int)(long)arg;
    unsigned long x = seed + (unsigned long)thread;
    for (int chunk = 0; chunk < CHUNKS; chunk++) {
        for (long i = 0; i < rounds; i++)
            x = x * 6364136223846793005UL + 1442695040888963407UL + (unsigned long)chunk;
        chunk_done(thread, chunk, x);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1)
        rounds = atol(argv[1]);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    seed = (unsigned long)ts.tv_nsec;
    pthread_t threads[THREADS];
    for (long t = 0; t < THREADS; t++)
        if (pthread_create(&threads[t], NULL, worker, (void *)t) != 0)
            return 1;
    unsigned long total = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        for (int c = 0; c < CHUNKS; c++) {
            printf("thread=%d chunk=%d value=%lu\n", t, c, values[t][c]);
            total += values[t][c];
        }
    }
    all_done(total);
    printf("total=%lu\n", total);
    return 0;
}
