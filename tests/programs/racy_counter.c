// Four threads increment one volatile counter without synchronisation.
// Lost updates depend on exactly where threads are preempted, so the total
// differs from run to run natively; replay must print the recorded total.
#include <pthread.h>
#include <stdio.h>

#define THREADS 4
#define ITERATIONS 3000000

static volatile long counter;

static void *work(void *arg) {
    (void)arg;
    for (long i = 0; i < ITERATIONS; i++)
        counter = counter + 1;
    return NULL;
}

int main(void) {
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&t[i], NULL, work, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("counter %ld of %d\n", counter, THREADS * ITERATIONS);
    return 0;
}
