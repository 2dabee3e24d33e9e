// Four threads increment one volatile counter without synchronisation.
// Lost updates depend on exactly where threads are preempted, so the total
// differs from run to run natively; replay must print the recorded total.
// The threads wait at a barrier so that they all count at once even when
// a busy machine would otherwise let one finish before the next starts.
#include <pthread.h>
#include <stdio.h>

#define THREADS 4
#define ITERATIONS 3000000

static volatile long counter;
static pthread_barrier_t start;

static void *work(void *arg) {
    (void)arg;
    pthread_barrier_wait(&start);
    for (long i = 0; i < ITERATIONS; i++)
        counter = counter + 1;
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    pthread_barrier_init(&start, NULL, THREADS);
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, work, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("counter %ld of %d\n", counter, THREADS * ITERATIONS);
    return 0;
}
