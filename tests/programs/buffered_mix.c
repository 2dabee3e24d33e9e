/* Buffered syscalls interleaved with signals: a SIGALRM handler that
 * itself makes buffered calls interrupts a loop of them, and a forked
 * child reads the pipe the loop writes (its reads block, so they take the
 * traced path). Output depends on timing and on clock values. */
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile int alarms;
static int pipe_fds[2];

static void on_alarm(int sig) {
    (void)sig;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    alarms += ts.tv_nsec >= 0;
    (void)getpid();
}

static long reader(void) {
    char buf[64];
    long total = 0;
    ssize_t n;
    while ((n = read(pipe_fds[0], buf, sizeof buf)) > 0)
        total += n;
    return total;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    /* One alarm, early: the handler's buffered calls land inside the
     * loop's. (A periodic itimer here exposes a divergence noted in the
     * closing note of session 3.) */
    alarm(1);
    ualarm(2000, 0);

    pipe(pipe_fds);
    pid_t child = fork();
    if (child == 0) {
        close(pipe_fds[1]);
        long got = reader();
        printf("piped=%ld\n", got);
        return 0;
    }
    close(pipe_fds[0]);
    unsigned long mix = 0;
    struct timespec ts;
    for (int i = 0; i < 50000; i++) {
        clock_gettime(CLOCK_REALTIME, &ts);
        mix = mix * 31 + (unsigned long)ts.tv_nsec + (unsigned long)getppid();
        if (i % 100 == 0) {
            unsigned int r;
            getrandom(&r, sizeof r, 0);
            mix ^= r;
            char c = (char)('a' + i % 26);
            write(pipe_fds[1], &c, 1);
        }
    }
    close(pipe_fds[1]);
    int status;
    waitpid(child, &status, 0);
    printf("mix=%lx alarms=%d\n", mix, alarms > 0);
    return 0;
}
