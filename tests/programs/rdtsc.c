/* rdtsc and rdtscp executed directly by user code. */
#include <stdio.h>
#include <x86intrin.h>
int main(void) {
    unsigned aux;
    unsigned long long a = __rdtsc();
    unsigned long long b = __rdtscp(&aux);
    unsigned long long c = __rdtsc();
    printf("tsc=%llu tscp=%llu aux=%u tsc2=%llu ordered=%d\n", a, b, aux, c, a <= b && b <= c);
    return 0;
}
