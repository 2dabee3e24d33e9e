/* Blocks every signal, raises some, and exits: the recorder must neither
 * hang waiting for a signal nor lose the blocked mask. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, 0);
    raise(SIGUSR1);
    raise(SIGTERM);
    raise(SIGCHLD);
    sigset_t pending;
    sigpending(&pending);
    printf("pending usr1=%d term=%d\n", sigismember(&pending, SIGUSR1),
           sigismember(&pending, SIGTERM));
    fflush(stdout);
    return 0;
}
