/* Clock reads through libc (vDSO natively, syscalls under replay). */
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
int main(void) {
    struct timespec rt, mono, boot, cpu;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_BOOTTIME, &boot);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
    struct timeval tv;
    gettimeofday(&tv, 0);
    printf("realtime=%ld.%09ld monotonic=%ld.%09ld boottime=%ld.%09ld cpu=%ld.%09ld tv=%ld.%06ld time=%ld\n",
           rt.tv_sec, rt.tv_nsec, mono.tv_sec, mono.tv_nsec, boot.tv_sec, boot.tv_nsec,
           cpu.tv_sec, cpu.tv_nsec, tv.tv_sec, tv.tv_usec, (long)time(0));
    return 0;
}
