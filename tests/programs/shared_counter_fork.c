/* A parent and a child that share an anonymous MAP_SHARED page. The child
 * updates a counter in a long stretch of user code and says so through a
 * pipe; the parent then reads the counter over and over in a long stretch
 * of its own, and acknowledges. A debugger's snapshots land inside those
 * stretches; a snapshot whose page stayed shared with the replay it came
 * from would, when gone back to, read what the child wrote later. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

__attribute__((noinline)) void observed(unsigned long value, int step) {
    printf("step=%d counter=%lu\n", step, value);
}

int main(int argc, char **argv) {
    long rounds = argc > 1 ? atol(argv[1]) : 50000000;
    volatile unsigned long *counter =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    int done[2], ack[2];
    if (counter == MAP_FAILED || pipe(done) != 0 || pipe(ack) != 0)
        return 1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *counter = (unsigned long)ts.tv_nsec;
    char byte = 'x';
    pid_t child = fork();
    if (child == 0) {
        for (int step = 0; step < 4; step++) {
            unsigned long x = *counter;
            for (long i = 0; i < rounds; i++)
                x = x * 2862933555777941757UL + 3037000493UL;
            *counter = x;
            if (write(done[1], &byte, 1) != 1 || read(ack[0], &byte, 1) != 1)
                _exit(1);
        }
        _exit(0);
    }
    for (int step = 0; step < 4; step++) {
        if (read(done[0], &byte, 1) != 1)
            return 1;
        unsigned long seen = 0;
        for (long i = 0; i < rounds; i++)
            seen = seen * 6364136223846793005UL + *counter;
        observed(seen, step);
        if (write(ack[1], &byte, 1) != 1)
            return 1;
    }
    waitpid(child, NULL, 0);
    return 0;
}
