/* Two threads and a forked child that execs a shell, for the multi-task
 * analysis tests: the worker blocks in read() on a pipe while the main
 * thread makes other syscalls, so dump must split the read into
 * `<unfinished ...>` and `<... read resumed>`. */
#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int p[2];

static void *reader(void *arg) {
    char buf[16];
    ssize_t n = read(p[0], buf, sizeof buf);
    return (void *)n;
}

int main(void) {
    if (pipe(p)) return 1;
    pthread_t t;
    pthread_create(&t, 0, reader, 0);
    /* Give the reader time to block, then make unrelated syscalls. */
    struct timespec d = {0, 20 * 1000 * 1000};
    nanosleep(&d, 0);
    getppid();
    write(p[1], "ping", 4);
    void *got;
    pthread_join(t, &got);
    pid_t c = fork();
    if (c == 0) {
        execl("/bin/sh", "sh", "-c", "exit 3", (char *)0);
        _exit(127);
    }
    int st;
    waitpid(c, &st, 0);
    printf("read %ld, child %d\n", (long)got, WEXITSTATUS(st));
    return 0;
}
