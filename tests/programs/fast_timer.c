/* An interval timer much faster than the recorder can deliver signals
 * (each delivery costs it a few hundred microseconds): the program must
 * still make progress. Delivered the moment each handler returned, the
 * next tick's handler ran at once, for ever: the recording never ended. */
#include "family.h"
#include <signal.h>
#include <sys/time.h>

static volatile long ticks;

static void on_alarm(int sig) {
  (void)sig;
  ticks++;
}

int main(int argc, char **argv) {
  long period_us = argc > 1 ? atol(argv[1]) : 200;
  CHECK(signal(SIGALRM, on_alarm) != SIG_ERR);
  struct itimerval every = {{0, period_us}, {0, period_us}};
  CHECK(setitimer(ITIMER_REAL, &every, NULL) == 0);
  static char from[1 << 16], to[1 << 16];
  unsigned long sum = random_value() % 1000;
  for (int i = 0; i < 20000; i++) {
    memcpy(to, from, sizeof from);
    from[i % sizeof from] = (char)i;
    sum += (unsigned char)to[(i * 7) % sizeof to];
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
  printf("interrupted: %s, sum %lu\n", ticks > 0 ? "yes" : "no", sum);
  return 0;
}
