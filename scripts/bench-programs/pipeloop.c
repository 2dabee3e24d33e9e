/* N small write+read pairs through a pipe, plus getppid: the syscall-bound
 * worst case for a ptrace-based recorder. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    long n = argc > 1 ? atol(argv[1]) : 100000;
    int p[2];
    if (pipe(p)) return 1;
    char c = 'x';
    long sum = 0;
    for (long i = 0; i < n; i++) {
        if (write(p[1], &c, 1) != 1 || read(p[0], &c, 1) != 1) return 2;
        sum += getppid() > 0;
    }
    printf("%ld\n", sum);
    return 0;
}
