// A worker spins forever adding a value from RDRAND, which no recorder can
// trap. Replay gets another value, so the worker can never reach the state
// it was preempted in: replay must end with a divergence, not hang.
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static volatile unsigned long sum;

static unsigned long hardware_random(void) {
    unsigned long value;
    unsigned char ok;
    do {
        __asm__ volatile("rdrand %0; setc %1" : "=r"(value), "=qm"(ok));
    } while (!ok);
    return value;
}

static void *spin(void *arg) {
    (void)arg;
    unsigned long step = hardware_random() | 1;
    for (;;)
        sum += step;
    return NULL;
}

int main(void) {
    pthread_t worker;
    pthread_create(&worker, NULL, spin, NULL);
    struct timespec pause = {0, 5 * 1000 * 1000};
    nanosleep(&pause, NULL);
    printf("sum %lu\n", sum);
    return 0;
}
