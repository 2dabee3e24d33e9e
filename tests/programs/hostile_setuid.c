/* Prints its real and effective uids. The tests install a copy owned by
 * another user with the setuid bit, and compare recording, replay and a
 * native run. */
#include <stdio.h>
#include <unistd.h>

int main(void) {
    printf("uid=%d euid=%d\n", (int)getuid(), (int)geteuid());
    return 0;
}
