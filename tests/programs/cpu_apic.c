/* Prints the APIC id CPUID reports for the CPU this runs on (no machine
 * here traps CPUID), and the time so that native runs differ: replay must
 * run on the recording's CPU to print the same id. */
#include <cpuid.h>
#include <stdio.h>
#include <time.h>

int main(void) {
    unsigned eax, ebx, ecx, edx;
    __cpuid(1, eax, ebx, ecx, edx);
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    printf("apic %u at %ld\n", ebx >> 24, t.tv_nsec);
    return 0;
}
