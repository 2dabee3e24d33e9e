/* fork, vfork, pipes, exec of another binary, waitpid and exit codes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    int p[2];
    if (pipe(p)) return 2;
    pid_t writer = fork();
    if (writer == 0) {
        close(p[0]);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        char msg[64];
        int n = snprintf(msg, sizeof msg, "from child %d at %ld\n", getpid(), ts.tv_nsec);
        write(p[1], msg, n);
        _exit(3);
    }
    close(p[1]);
    char buf[128];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    buf[n > 0 ? n : 0] = 0;
    printf("parent got: %s", buf);
    int status;
    waitpid(writer, &status, 0);
    printf("writer exit=%d\n", WEXITSTATUS(status));
    fflush(stdout);
    pid_t v = vfork();
    if (v == 0) {
        execl("/bin/sh", "sh", "-c", "echo exec from vfork child $$; exit 5", (char *)0);
        _exit(127);
    }
    waitpid(v, &status, 0);
    printf("vfork child exit=%d\n", WEXITSTATUS(status));
    return 4;
}
