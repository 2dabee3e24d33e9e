/* Calls io_uring_setup, whose ring memory the kernel would update behind
 * the recorder's back: recording must refuse it by name. */
#include <linux/io_uring.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    long fd = syscall(__NR_io_uring_setup, 8, &p);
    printf("io_uring_setup %ld\n", fd);
    return 0;
}
