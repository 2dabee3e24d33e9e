/* Prints its pid, then copies /dev/urandom to stdout in small reads (so
 * that many events reach the disk before it fills) forever: every read
 * is recorded input, so the trace grows until the disk is full. Built
 * static by the full-disk test so its blobs fit in a 2 MiB tmpfs. */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    printf("pid %d\n", (int)getpid());
    fflush(stdout);
    int fd = open("/dev/urandom", O_RDONLY);
    char buf[256];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0 || write(1, buf, (size_t)n) != n) return 1;
    }
}
