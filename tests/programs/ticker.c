/* Prints its pid, then a clock reading every 20 ms for a while: something to
 * interrupt in the middle of a recording. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 100;
    printf("pid %d\n", getpid());
    fflush(stdout);
    for (int i = 0; i < n; i++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        printf("tick %d %ld\n", i, ts.tv_nsec);
        fflush(stdout);
        usleep(20000);
    }
    return 0;
}
