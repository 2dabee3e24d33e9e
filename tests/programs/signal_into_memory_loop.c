/* A periodic SIGALRM interrupts a loop that keeps its state in memory
 * only: every pass has the same registers at every instruction, and a
 * signal handler's return lands back in it. Each handler notes the
 * counter; replay must deliver each signal at the same pass, although
 * the registers where the loop was interrupted recur on every pass. (Two
 * may share a pass: a signal that comes while a handler runs waits for its
 * return.) */
#include "family.h"
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

static volatile unsigned long counter, at[4];
static volatile int done, taken;

static void on_alarm(int sig) {
  (void)sig;
  at[taken] = counter;
  if (++taken == 4)
    done = 1;
}

int main(void) {
  CHECK(signal(SIGALRM, on_alarm) != SIG_ERR);
  struct itimerval every = {{0, 5000}, {0, 5000}};
  CHECK(setitimer(ITIMER_REAL, &every, NULL) == 0);
  __asm__ volatile("1: lock incq %0\n\t"
                   "cmpl $0, %1\n\t"
                   "je 1b\n\t"
                   : "+m"(counter)
                   : "m"(done)
                   : "cc", "memory");
  struct itimerval off = {{0, 0}, {0, 0}};
  CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
  for (int i = 0; i < 4; i++) {
    CHECK(i == 0 || at[i] >= at[i - 1]);
    printf("signal %d at pass %lu\n", i, at[i]);
  }
  return 0;
}
