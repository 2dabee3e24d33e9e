/* A small program for the interactive replay tests: opens a known file,
 * writes known bytes, reads a big buffer back, takes a handled SIGSEGV,
 * and prints the address of a known string so tests can read it with
 * `mem`. Usage: interactive_demo SCRATCH_FILE */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char marker[] = "MARKER-12345";
static sigjmp_buf recover;

static void on_segv(int sig) {
    (void)sig;
    siglongjmp(recover, 1);
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    char buf[4096];
    int fd = open("/etc/passwd", O_RDONLY);
    if (fd >= 0)
        close(fd);
    write(1, "hello interactive\n", 18);
    char line[64];
    int n = snprintf(line, sizeof line, "marker at %p\n", (void *)marker);
    write(1, line, n);

    memset(buf, 'x', 3000);
    fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(fd, buf, 3000);
    lseek(fd, 0, SEEK_SET);
    ssize_t got = read(fd, buf, sizeof buf);
    close(fd);
    unlink(argv[1]);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_segv;
    sigaction(SIGSEGV, &sa, NULL);
    if (sigsetjmp(recover, 1) == 0) {
        volatile int *bad = (volatile int *)16;
        *bad = 1;
    }
    char done[64];
    n = snprintf(done, sizeof done, "read %zd, survived the fault\n", got);
    write(1, done, n);
    return 0;
}
