/* Threads that spin on a flag and count only in a floating-point or vector
 * register: a double in xmm0, the upper lanes of ymm0 (lanes the lower
 * half never sees), an x87 long double. Their general registers are the
 * same on every pass, so a preemption point inside such a loop is named
 * by the vector state alone. Each count depends on when main set the
 * flag; replay must stop each thread on exactly the recorded pass. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static volatile int stop;

static void *count_in_xmm(void *unused) {
  (void)unused;
  double count = 0;
  while (!stop) {
    count += 1.0;
    __asm__ volatile("" : "+x"(count));
  }
  printf("xmm: %.0f\n", count);
  return NULL;
}

__attribute__((target("avx"))) static void *count_in_upper_ymm(void *unused) {
  (void)unused;
  /* Lanes 2 and 3 only: xmm0 (the lower half) stays zero. */
  static const double step[4] __attribute__((aligned(32))) = {0, 0, 1, 1};
  double lanes[4] __attribute__((aligned(32)));
  __asm__ volatile("vxorpd %%ymm0, %%ymm0, %%ymm0\n\t"
                   "vmovapd %[step], %%ymm1\n"
                   "1:\n\t"
                   "vaddpd %%ymm1, %%ymm0, %%ymm0\n\t"
                   "movl %[stop], %%eax\n\t"
                   "testl %%eax, %%eax\n\t"
                   "jz 1b\n\t"
                   "vmovapd %%ymm0, %[lanes]\n\t"
                   "vzeroupper"
                   : [lanes] "=m"(lanes)
                   : [step] "m"(step), [stop] "m"(stop)
                   : "rax", "xmm0", "xmm1", "cc", "memory");
  printf("upper ymm: %.0f (lower %.0f)\n", lanes[2], lanes[0]);
  return NULL;
}

static void *count_in_x87(void *unused) {
  (void)unused;
  long double one = 1.0L;
  uint64_t count;
  __asm__ volatile("fldt %[one]\n\t"
                   "fldz\n"
                   "1:\n\t"
                   "fadd %%st(1), %%st\n\t"
                   "movl %[stop], %%eax\n\t"
                   "testl %%eax, %%eax\n\t"
                   "jz 1b\n\t"
                   "fistpll %[count]\n\t"
                   "fstp %%st(0)"
                   : [count] "=m"(count)
                   : [one] "m"(one), [stop] "m"(stop)
                   : "rax", "cc", "memory");
  printf("x87: %llu\n", (unsigned long long)count);
  return NULL;
}

static void spin_for_a_while(void *(*counter)(void *)) {
  stop = 0;
  pthread_t thread;
  pthread_create(&thread, NULL, counter, NULL);
  struct timespec pause = {0, 30 * 1000 * 1000};
  nanosleep(&pause, NULL);
  stop = 1;
  pthread_join(thread, NULL);
}

int main(void) {
  spin_for_a_while(count_in_xmm);
  if (__builtin_cpu_supports("avx"))
    spin_for_a_while(count_in_upper_ymm);
  else
    printf("upper ymm: no AVX here\n");
  spin_for_a_while(count_in_x87);
  return 0;
}
