/* "Run until the alarm", as benchmarks do: a one-shot timer's handler sets
 * a flag that ends a loop making no syscalls, whose body (an unrolled
 * mixing function) is thousands of instructions long. The signal must be
 * delivered at some pass, or the loop never ends. */
#include "family.h"
#include <signal.h>
#include <sys/time.h>

static volatile sig_atomic_t done;

static void on_alarm(int sig) {
  (void)sig;
  done = 1;
}

#define STEP(i) x = (x * 0x9E3779B97F4A7C15ull) ^ (x >> 29) ^ (key[(i) & 7] + (i));
#define STEP8(i) STEP(i) STEP(i + 1) STEP(i + 2) STEP(i + 3) STEP(i + 4) STEP(i + 5) STEP(i + 6) STEP(i + 7)
#define STEP64(i) STEP8(i) STEP8(i + 8) STEP8(i + 16) STEP8(i + 24) STEP8(i + 32) STEP8(i + 40) STEP8(i + 48) STEP8(i + 56)

__attribute__((noinline)) static unsigned long long mix(unsigned long long x,
                                                       const unsigned long long *key) {
  STEP64(0) STEP64(64) STEP64(128) STEP64(192) STEP64(256) STEP64(320) STEP64(384) STEP64(448)
  return x;
}

int main(void) {
  unsigned long long key[8];
  for (int i = 0; i < 8; i++)
    key[i] = random_value();
  CHECK(signal(SIGALRM, on_alarm) != SIG_ERR);
  struct itimerval once = {{0, 0}, {0, 50 * 1000}};
  CHECK(setitimer(ITIMER_REAL, &once, NULL) == 0);
  unsigned long long x = key[0], passes = 0;
  while (!done) {
    x = mix(x, key);
    passes++;
  }
  printf("%llu passes, %016llx\n", passes, x);
  return 0;
}
