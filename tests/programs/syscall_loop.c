/* Makes argv[1] (default 10000) getppid calls, then prints their sum and
 * the time: a recording with many events and nothing else, whose replay
 * takes a while. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 10000, sum = 0;
    for (long i = 0; i < n; i++)
        sum += getppid();
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    printf("%ld %ld\n", sum, t.tv_nsec);
    return 0;
}
