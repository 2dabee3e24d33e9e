// Two threads each run rounds of an inner loop that works in registers
// only and starts from the same values every round; the round number
// lives in memory alone, bumped after the inner loop. Every round's inner
// loop therefore passes through exactly the same registers, and a point
// the recorder preempts a thread at inside it is told apart from the same
// point in other rounds only by the round counter, which the inner loop
// never touches. Each thread logs the other's progress now and then, so
// the output depends on where each was preempted; replay must find each
// recorded point in the right round.
#include <pthread.h>
#include <stdio.h>

#define ROUNDS 3000
#define INNER 20000

static volatile long rounds[2];
static volatile long progress_log[64];
static volatile int logged;

static void *work(void *arg) {
    long id = (long)arg;
    while (rounds[id] < ROUNDS) {
        unsigned long x = 7;
        for (int i = 0; i < INNER; i++)
            x = x * 2862933555777941757UL + 3037000493UL;
        if (x == 42)
            puts("unreachable");
        rounds[id]++;
        if ((rounds[id] & 255) == 0 && logged < 64)
            progress_log[logged++] = id * 100000 + rounds[1 - id];
    }
    return NULL;
}

int main(void) {
    pthread_t threads[2];
    for (long i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, work, (void *)i);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    printf("progress:");
    for (int i = 0; i < logged; i++)
        printf(" %ld", progress_log[i]);
    printf("\n");
    return 0;
}
