/* One write call site whose fd 1 is, in turn, stdout, a file, stdout
 * again, a pipe, and (in a vfork child that shares this memory but has its
 * own fd table) a pipe while the parent's fd 1 stays stdout. The syscall
 * buffer remembers what each fd is; replay must print exactly the lines
 * that reached stdout, whatever was remembered about fd 1 before. The
 * file named by the argument gets the other lines. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(int fd, const char *what, unsigned value) {
    char line[96];
    int n = snprintf(line, sizeof line, "%s %u\n", what, value);
    if (write(fd, line, n) != n)
        exit(10);
}

int main(int argc, char **argv) {
    if (argc != 2)
        return 2;
    unsigned r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r)
        return 3;
    int saved = dup(1);
    say(1, "stdout first", r);

    close(1);
    if (open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600) != 1)
        return 4;
    say(1, "file", r + 1);
    say(1, "file again", r + 2);

    if (dup2(saved, 1) != 1)
        return 5;
    say(1, "stdout after the file", r + 3);
    /* This close is made in process: its site was patched at the first. */
    close(1);
    if (open(argv[1], O_WRONLY | O_APPEND) != 1)
        return 13;
    say(1, "file after a buffered close", r + 9);
    if (dup2(saved, 1) != 1)
        return 14;
    say(1, "stdout once more", r + 10);

    int p[2];
    if (pipe(p) != 0 || dup2(p[1], 1) != 1)
        return 6;
    say(1, "pipe", r + 4);
    if (dup2(saved, 1) != 1)
        return 7;
    char got[96] = {0};
    if (read(p[0], got, sizeof got - 1) <= 0)
        return 8;
    say(1, "stdout after the pipe", r + 5);

    pid_t child = vfork();
    if (child == 0) {
        if (dup2(p[1], 1) != 1)
            _exit(9);
        say(1, "vfork child into the pipe", r + 6);
        _exit(0);
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child || status != 0)
        return 11;
    say(1, "stdout after the child", r + 7);
    memset(got, 0, sizeof got);
    if (read(p[0], got, sizeof got - 1) <= 0)
        return 12;
    /* What went through the pipe, so the output shows it arrived. */
    say(1, strncmp(got, "vfork child", 11) == 0 ? "pipe held the child's line" : "pipe held something else", r + 8);
    return 0;
}
