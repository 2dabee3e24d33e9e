/* getrandom(2), /dev/urandom and the kernel's AT_RANDOM bytes. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/auxv.h>
#include <sys/random.h>
#include <unistd.h>
static void hex(const char *label, const unsigned char *p, int n) {
    printf("%s=", label);
    for (int i = 0; i < n; i++) printf("%02x", p[i]);
    printf(" ");
}
int main(void) {
    unsigned char g[16], u[16];
    if (getrandom(g, sizeof g, 0) != sizeof g) return 2;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, u, sizeof u) != sizeof u) return 3;
    close(fd);
    hex("getrandom", g, 16);
    hex("urandom", u, 16);
    hex("at_random", (const unsigned char *)getauxval(AT_RANDOM), 16);
    printf("\n");
    return 0;
}
