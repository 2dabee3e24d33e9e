/* Prints, then issues an ioctl request the syscall model does not know
 * (SIOCGIFNETMASK on "lo"): the kernel writes a netmask and returns 0, so a
 * recorder that guessed would produce a wrong trace. It must refuse instead. */
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>
int main(void) {
    printf("before\n");
    fflush(stdout);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    int r = ioctl(fd, SIOCGIFNETMASK, &ifr);
    printf("after %d\n", r);
    return 0;
}
