/* A small program to debug a replay of: its globals come from the clock and
 * getrandom, so gdb must show the recorded values. */
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

long seed_time;
unsigned int seed_random;
volatile long counter;

__attribute__((noinline)) long compute(long x) {
    long doubled = x * 2;
    counter += doubled;
    return doubled + 1;
}

int main(void) {
    seed_time = (long)time(0);
    getrandom(&seed_random, sizeof seed_random, 0);
    long total = 0;
    for (long i = 0; i < 5; i++) {
        total += compute(i + (seed_random % 7));
    }
    char line[128];
    int n = snprintf(line, sizeof line, "time=%ld random=%u total=%ld counter=%ld\n", seed_time, seed_random,
                     total, counter);
    write(1, line, n);
    return 0;
}
