/* Deterministic file activity for the analysis tests: no clocks, no
 * randomness. argv[1] is a scratch directory. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    char path[4096];
    snprintf(path, sizeof path, "%s/data.txt", argv[1]);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return 3;
    const char *text = "hello analysis\n";
    write(fd, text, strlen(text));
    close(fd);
    char buf[64];
    fd = open(path, O_RDONLY);
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    struct stat st;
    stat(path, &st);
    stat("/nonexistent/file", &st);
    fd = open("/etc/shadow", O_RDONLY);
    if (fd >= 0) {
        read(fd, buf, 8);
        close(fd);
    }
    unlink(path);
    printf("read %zd size %ld\n", n, (long)st.st_size);
    return 0;
}
