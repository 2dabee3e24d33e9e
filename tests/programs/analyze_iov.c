/* writev to stdout and readv from a pipe, for strace-style iovec output. */
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

int main(void) {
    struct iovec v[2] = {{"hello", 5}, {" world\n", 7}};
    writev(1, v, 2);
    int p[2];
    if (pipe(p)) return 1;
    write(p[1], "abcdefgh", 8);
    char a[3], b[10];
    struct iovec r[2] = {{a, 3}, {b, 10}};
    readv(p[0], r, 2);
    /* A failing call, for the error colour. */
    open("/nonexistent/for-colour", O_RDONLY);
    return 0;
}
