// The parent busy-waits, without syscalls, on a flag that its SIGCHLD
// handler sets when the child exits. It counts how many passes it made.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t child_done;

static void on_child(int sig) {
    (void)sig;
    child_done = 1;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_child;
    sigaction(SIGCHLD, &sa, NULL);
    pid_t child = fork();
    if (child == 0) {
        struct timespec pause = {0, 5 * 1000 * 1000};
        nanosleep(&pause, NULL);
        _exit(7);
    }
    unsigned long passes = 0;
    while (!child_done)
        passes++;
    int status = 0;
    waitpid(child, &status, 0);
    printf("child exited %d after %lu passes\n", WEXITSTATUS(status), passes);
    return 0;
}
