/* A long stretch of user code with few events: N calls of a 2,000-step
 * arithmetic loop, a getppid every 16 (taken in process by the syscall
 * buffer), a global written every N/10 + 1 calls, then marker(acc). The
 * seed is the clock, so every run prints another number. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

volatile unsigned long sink;
unsigned long checkpoint_counter;

__attribute__((noinline)) unsigned long work(unsigned long acc, long i) {
    for (int j = 0; j < 2000; j++)
        acc = acc * 6364136223846793005UL + (unsigned long)j + (unsigned long)i;
    return acc;
}

__attribute__((noinline)) void marker(unsigned long acc) { sink = acc; }

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    unsigned long acc = (unsigned long)ts.tv_nsec;
    for (long i = 0; i < n; i++) {
        acc = work(acc, i);
        if (i % 16 == 0)
            acc += (unsigned long)getppid();
        if (i % (n / 10 + 1) == 0)
            checkpoint_counter = (unsigned long)i;
    }
    marker(acc);
    printf("acc=%lu\n", acc);
    return 0;
}
