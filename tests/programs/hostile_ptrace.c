/* A debugger-like tracee: forks and ptraces its child. The recorder owns
 * ptrace, so this must be refused with a message naming ptrace. */
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
    pid_t c = fork();
    if (c == 0) {
        pause();
        _exit(0);
    }
    long r = ptrace(PTRACE_ATTACH, c, 0, 0);
    printf("attach %ld\n", r);
    kill(c, SIGKILL);
    waitpid(c, 0, 0);
    return 0;
}
