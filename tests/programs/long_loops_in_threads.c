/* Two threads spin without syscalls until main, after a sleep, tells them
 * to stop: one through an unrolled mixing function thousands of
 * instructions a pass, one through `rep stosb` over 64 KiB, which a single
 * step runs one byte at a time. While they run, main waits to be
 * scheduled: each must be preempted somewhere in its long pass. */
#include "family.h"
#include <pthread.h>
#include <time.h>

static volatile int stop;
static unsigned long long key[8];

#define STEP(i) x = (x * 0x9E3779B97F4A7C15ull) ^ (x >> 29) ^ (key[(i) & 7] + (i));
#define STEP8(i) STEP(i) STEP(i + 1) STEP(i + 2) STEP(i + 3) STEP(i + 4) STEP(i + 5) STEP(i + 6) STEP(i + 7)
#define STEP64(i) STEP8(i) STEP8(i + 8) STEP8(i + 16) STEP8(i + 24) STEP8(i + 32) STEP8(i + 40) STEP8(i + 48) STEP8(i + 56)

__attribute__((noinline)) static unsigned long long mix(unsigned long long x) {
  STEP64(0) STEP64(64) STEP64(128) STEP64(192) STEP64(256) STEP64(320) STEP64(384) STEP64(448)
  return x;
}

static void *mixer(void *unused) {
  (void)unused;
  unsigned long long x = key[0], passes = 0;
  while (!stop) {
    x = mix(x);
    passes++;
  }
  printf("mixer: %llu passes, %016llx\n", passes, x);
  return NULL;
}

static unsigned char block[65536];

static void *filler(void *unused) {
  (void)unused;
  unsigned long passes = 0;
  while (!stop) {
    void *to = block;
    unsigned long count = sizeof block;
    __asm__ volatile("rep stosb" : "+D"(to), "+c"(count) : "a"((int)passes) : "memory");
    passes++;
  }
  printf("filler: %lu passes, last byte %u\n", passes, block[sizeof block - 1]);
  return NULL;
}

int main(void) {
  for (int i = 0; i < 8; i++)
    key[i] = random_value();
  pthread_t threads[2];
  CHECK(pthread_create(&threads[0], NULL, mixer, NULL) == 0);
  CHECK(pthread_create(&threads[1], NULL, filler, NULL) == 0);
  struct timespec pause = {0, 40 * 1000 * 1000};
  nanosleep(&pause, NULL);
  stop = 1;
  for (int i = 0; i < 2; i++)
    CHECK(pthread_join(threads[i], NULL) == 0);
  return 0;
}
