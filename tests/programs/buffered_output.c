/* Many small writes to stdout and stderr, interleaved, with values that
 * differ from run to run: with the syscall buffer they are made in process
 * and replay must print them from the records, in order. The last lines go
 * through a descriptor the program duplicated (fd 5 = stdout), so the
 * stream is found by the file, not the number. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    char line[96];
    for (int i = 0; i < 300; i++) {
        unsigned r = 0;
        getrandom(&r, sizeof r, 0);
        struct timespec t;
        clock_gettime(CLOCK_REALTIME, &t);
        int n = snprintf(line, sizeof line, "out %d %u %ld\n", i, r, t.tv_nsec);
        write(1, line, n);
        if (i % 7 == 0) {
            n = snprintf(line, sizeof line, "err %d %u\n", i, r ^ 0x5a5a5a5au);
            write(2, line, n);
        }
    }
    if (dup2(1, 5) != 5)
        return 1;
    for (int i = 0; i < 20; i++) {
        int n = snprintf(line, sizeof line, "dup %d\n", i);
        write(5, line, n);
    }
    return 0;
}
