/* Shared by the kernel-behaviour family programs: checks that fail loudly,
 * and a nondeterministic value so that native runs differ. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define CHECK(c)                                                              \
  do {                                                                        \
    if (!(c)) {                                                               \
      int e_ = errno;                                                         \
      fprintf(stderr, "FAIL %s:%d: %s (errno %d %s)\n", __FILE__, __LINE__,   \
              #c, e_, strerror(e_));                                          \
      exit(1);                                                                \
    }                                                                         \
  } while (0)

static inline unsigned long long random_value(void) {
  unsigned long long r = 0;
  CHECK(getrandom(&r, sizeof r, 0) == sizeof r);
  return r;
}

/* Spins in user code, no syscall, until another task sets `word`; returns
 * how many passes that took. */
static inline long spin_until_set(volatile unsigned *word) {
  long spins = 0;
  while (*word == 0)
    spins++;
  return spins;
}
