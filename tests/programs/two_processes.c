/* A parent and the child it forks, each calling `marker` with values from
 * the clock and getrandom: a debugger sees one inferior per process, with
 * the recorded values in each. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct pair {
    long first;
    long second;
};

char label[48];

__attribute__((noinline)) struct pair make_pair(long first, long second) {
    struct pair p = {first, second};
    return p;
}

__attribute__((noinline)) long marker(int who, long value) {
    return who * 1000 + value % 1000;
}

int main(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    unsigned int noise;
    getrandom(&noise, sizeof noise, 0);
    snprintf(label, sizeof label, "run-%ld-%u", (long)now.tv_nsec, noise);

    pid_t child = fork();
    if (child == 0) {
        long first = marker(2, (long)getpid() + noise);
        long second = marker(3, first + now.tv_nsec);
        printf("child %s %ld %ld\n", label, first, second);
        return 3;
    }
    int status = 0;
    waitpid(child, &status, 0);
    long parent = marker(1, now.tv_nsec);
    printf("parent %d child %d %s %ld status %d\n", (int)getpid(), (int)child, label, parent,
           WEXITSTATUS(status));
    return 0;
}
