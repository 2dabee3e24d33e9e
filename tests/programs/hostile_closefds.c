/* Closes every descriptor, stdout included, then keeps making syscalls
 * whose results (EBADF) must be recorded and replayed faithfully. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

int main(void) {
    write(1, "before\n", 7);
    for (int fd = 0; fd < 1024; fd++) close(fd);
    ssize_t r = write(1, "after\n", 6);
    int e = errno;
    /* Exit status carries what happened, since stdout is gone. */
    return r == -1 && e == EBADF ? 42 : 1;
}
