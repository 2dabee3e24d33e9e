/* Prints, then issues an ioctl request the syscall model does not know
 * (SIOCGSKNS, which succeeds and returns a namespace fd): a recorder that
 * guessed its effects could produce a wrong trace, so it must refuse. */
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
int main(void) {
    printf("before\n");
    fflush(stdout);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int r = ioctl(fd, SIOCGSKNS, 0);
    printf("after %d\n", r >= 0);
    return 0;
}
