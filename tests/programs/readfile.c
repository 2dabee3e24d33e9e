/* Reads and maps a file given on the command line: replay must not need it. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { perror("open"); return 3; }
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0) return 4;
    buf[n] = 0;
    struct stat st;
    fstat(fd, &st);
    char *m = mmap(0, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) return 5;
    printf("read: %s", buf);
    printf("mapped first byte: %c size=%ld\n", m[0], (long)st.st_size);
    return 0;
}
