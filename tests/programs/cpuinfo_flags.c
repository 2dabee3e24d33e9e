// /proc/cpuinfo and CPUID agree: every flag of rdrand, rdseed, rdpid,
// sse4_2 and avx2 that cpuinfo lists has its CPUID bit set (the kernel may
// hide a feature, never invent one). A recorder that hides RDRAND from
// CPUID must hide it from cpuinfo too, or a program that trusts cpuinfo
// executes it. Prints the pid and which of the flags it found.
#define _GNU_SOURCE
#include <cpuid.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

struct flag {
    const char *name;
    unsigned leaf, reg, bit; /* reg: 0 ebx, 1 ecx, 2 edx */
};

static int listed(const char *flags, const char *name) {
    size_t len = strlen(name);
    for (const char *at = flags; (at = strstr(at, name)); at += len)
        if ((at == flags || at[-1] == ' ') && (at[len] == ' ' || at[len] == '\n' || !at[len]))
            return 1;
    return 0;
}

int main(void) {
    static char text[1 << 16];
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return 1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    char *flags = strstr(text, "\nflags");
    if (!flags) {
        printf("no flags line\n");
        return 1;
    }
    char *end = strchr(flags + 1, '\n');
    if (end)
        *end = 0;
    const struct flag wanted[] = {
        {"rdrand", 1, 1, 30}, {"rdseed", 7, 0, 18}, {"rdpid", 7, 1, 22},
        {"sse4_2", 1, 1, 20}, {"avx2", 7, 0, 5},
    };
    unsigned nonce;
    getrandom(&nonce, sizeof nonce, 0);
    printf("pid %d nonce %08x:", getpid(), nonce);
    for (size_t i = 0; i < sizeof wanted / sizeof *wanted; i++) {
        unsigned r[4] = {0};
        __cpuid_count(wanted[i].leaf, 0, r[0], r[1], r[2], r[3]);
        unsigned reg = wanted[i].reg == 0 ? r[1] : wanted[i].reg == 1 ? r[2] : r[3];
        int in_cpuid = (reg >> wanted[i].bit) & 1;
        if (listed(flags, wanted[i].name) && !in_cpuid) {
            printf("\ncpuinfo lists %s, CPUID does not\n", wanted[i].name);
            return 1;
        }
        printf(" %s=%d", wanted[i].name, in_cpuid);
    }
    printf("\n");
    return 0;
}
