// Chooses code paths by CPUID, the way libraries do, and takes a random
// number from RDRAND when CPUID offers it (as OpenSSL does), else from
// getrandom. Prints which paths it took, the random number, and whether
// CPUID looks enabled (arch_prctl(ARCH_GET_CPUID)). With --getrandom it
// never uses RDRAND, for machines where the recorder cannot hide it.
#include <cpuid.h>
#include <immintrin.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_GET_CPUID 0x1011

__attribute__((target("rdrnd"))) static unsigned long long from_rdrand(void) {
    unsigned long long v = 0;
    while (!_rdrand64_step(&v)) {
    }
    return v;
}

int main(int argc, char **argv) {
    unsigned a, b, c, d;
    __cpuid(1, a, b, c, d);
    int rdrand = (c >> 30) & 1 && !(argc > 1 && strcmp(argv[1], "--getrandom") == 0);
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1, rdseed = (b >> 18) & 1;
    int rdpid = (c >> 22) & 1;
    unsigned long long r = 0;
    if (rdrand) {
        r = from_rdrand();
    } else if (getrandom(&r, sizeof r, 0) != sizeof r) {
        return 2;
    }
    __builtin_cpu_init();
    printf("path: %s\n", avx512f ? "avx512" : avx2 ? "avx2" : "generic");
    printf("rdrand=%d rdseed=%d avx2=%d avx512f=%d libgcc-avx512f=%d\n", rdrand, rdseed, avx2,
           avx512f, __builtin_cpu_supports("avx512f") ? 1 : 0);
    printf("rdpid=%d\n", rdpid);
    printf("random from %s: %016llx\n", rdrand ? "rdrand" : "getrandom", r);
    printf("cpuid enabled: %ld\n", syscall(SYS_arch_prctl, ARCH_GET_CPUID, 0));
    return 0;
}
