/* pids and tids, the parent's pid, and a child's pid seen through fork and wait. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    printf("pid=%d tid=%d ppid=%d\n", getpid(), gettid(), getppid());
    fflush(stdout);
    pid_t child = fork();
    if (child == 0) {
        printf("child pid=%d ppid=%d\n", getpid(), getppid());
        _exit(7);
    }
    int status;
    pid_t reaped = waitpid(child, &status, 0);
    printf("forked=%d reaped=%d exit=%d\n", child, reaped, WEXITSTATUS(status));
    return 0;
}
