/* A bounded fork bomb: forks until fork fails (EAGAIN under a small
 * RLIMIT_NPROC) or a hard cap is reached, then reaps everything. As root
 * RLIMIT_NPROC does not apply, so root first drops to uid 65534. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    int cap = argc > 1 ? atoi(argv[1]) : 200;
    if (getuid() == 0 && setuid(65534) != 0) return 2;
    struct rlimit rl = {20, 20};
    setrlimit(RLIMIT_NPROC, &rl);
    int made = 0, err = 0;
    for (int i = 0; i < cap; i++) {
        pid_t c = fork();
        if (c < 0) {
            err = errno;
            break;
        }
        if (c == 0) {
            usleep(200 * 1000);
            _exit(0);
        }
        made++;
    }
    while (wait(0) > 0) {
    }
    printf("forked %d, stopped by %s\n", made, err == EAGAIN ? "EAGAIN" : err ? "error" : "cap");
    return 0;
}
