/* A 1 ms periodic itimer interrupts a loop of syscalls (buffered ones when
 * the syscall buffer is on); the handler makes a syscall too. With an
 * first argument "thread", a second thread blocks reading a pipe, so the process-directed
 * signal can wake it (its read restarts) or run its handler there, even
 * while it maps its syscall buffer. The second argument is the number of
 * iterations. Output depends on clock values. */
#include <stdlib.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int ticks;
static int pipe_fds[2];

static void on_tick(int sig) {
    (void)sig;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ticks += ts.tv_nsec >= 0;
}

static void *reader(void *arg) {
    (void)arg;
    char buf[64];
    long total = 0;
    ssize_t n;
    while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0)
        total += n;
    return (void *)total;
}

int main(int argc, char **argv) {
    int threaded = argc > 1 && strcmp(argv[1], "thread") == 0;
    int iterations = argc > 2 ? atoi(argv[2]) : 30000;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_tick;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    pipe(pipe_fds);
    pthread_t t;
    if (threaded)
        pthread_create(&t, 0, reader, 0);
    struct itimerval it = {{0, 1000}, {0, 1000}};
    setitimer(ITIMER_REAL, &it, 0);
    unsigned long mix = 0;
    struct timespec ts;
    for (int i = 0; i < iterations; i++) {
        clock_gettime(CLOCK_REALTIME, &ts);
        mix = mix * 31 + (unsigned long)ts.tv_nsec + (unsigned long)getppid();
        if (threaded && i % (iterations / 100) == 0)
            write(pipe_fds[1], "x", 1);
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, 0);
    close(pipe_fds[1]);
    void *got = 0;
    if (threaded)
        pthread_join(t, &got);
    printf("mix=%lx ticks>0=%d piped=%ld\n", mix, ticks > 0, (long)got);
    return 0;
}
