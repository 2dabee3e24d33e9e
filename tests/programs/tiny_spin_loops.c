// Loops too small for a preemption probe's jump: `for (;;);` (a jump to
// itself) and `for (;;) pause;`, in a child ended by its interval timer's
// handler and in a child its parent kills after sleeping. The recorder
// found no point in them and never gave the CPU to another thread: both
// recordings hung. Prints the pid and a random token each child reports.
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static unsigned token;
static int report_fd;

static void on_timer(int sig) {
    (void)sig;
    write(report_fd, &token, sizeof token);
    _exit(0);
}

/// A child that spins in `kind` until its 30 ms timer ends it; returns
/// the token it reported.
static unsigned spin_until_timer(int kind) {
    int pipe_fds[2];
    if (pipe(pipe_fds))
        exit(1);
    pid_t child = fork();
    if (child == 0) {
        report_fd = pipe_fds[1];
        getrandom(&token, sizeof token, 0);
        signal(SIGALRM, on_timer);
        struct itimerval after = {{0, 0}, {0, 30000}};
        setitimer(ITIMER_REAL, &after, NULL);
        if (kind == 0)
            for (;;)
                ;
        for (;;)
            __builtin_ia32_pause();
    }
    unsigned got = 0;
    if (read(pipe_fds[0], &got, sizeof got) != sizeof got)
        exit(2);
    int status;
    waitpid(child, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        exit(3);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    return got;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    alarm(20);
    unsigned jump = spin_until_timer(0);
    unsigned paused = spin_until_timer(1);
    pid_t spinner = fork();
    if (spinner == 0)
        for (;;)
            ;
    struct timespec nap = {0, 20000000};
    nanosleep(&nap, NULL);
    kill(spinner, SIGKILL);
    int status;
    waitpid(spinner, &status, 0);
    printf("pid %d: timer ended `for (;;);` (%08x) and a pause loop (%08x); spinner killed: %s\n",
           getpid(), jump, paused,
           WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? "yes" : "no");
    return 0;
}
