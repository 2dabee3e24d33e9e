// A worker spins on atomic_fetch_add until the main thread, after sleeping
// 20 ms, sets a stop flag. The worker's registers repeat on every pass; only
// memory (the counter) progresses. The final count depends on timing.
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static atomic_long counter;
static atomic_int stop;

static void *spin(void *arg) {
    (void)arg;
    while (!atomic_load_explicit(&stop, memory_order_relaxed))
        atomic_fetch_add_explicit(&counter, 1, memory_order_relaxed);
    return NULL;
}

int main(void) {
    pthread_t worker;
    pthread_create(&worker, NULL, spin, NULL);
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    atomic_store(&stop, 1);
    pthread_join(worker, NULL);
    printf("spun %ld times\n", atomic_load(&counter));
    return 0;
}
