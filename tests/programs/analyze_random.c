/* Prints random bytes from getrandom: two recordings must differ. */
#include <stdio.h>
#include <sys/random.h>
int main(void) {
    unsigned char b[8];
    if (getrandom(b, sizeof b, 0) != sizeof b) return 3;
    for (int i = 0; i < 8; i++) printf("%02x", b[i]);
    printf("\n");
    return 0;
}
