/* A thread spins in a loop that now and then saves and restores the flags
 * (pushfq ... popfq), as JIT stubs do, while another thread wants the CPU.
 * A preemption walk that starts between the two steps over the popf, and
 * must not leave the trap flag set for the program, which then died of
 * SIGTRAP. */
#include "family.h"
#include <pthread.h>
#include <time.h>

static volatile int stop;
static volatile unsigned long spins;

static void *spin(void *arg) {
  (void)arg;
  while (!stop) {
    /* Now and then the flags are saved and restored around some work; a
     * loop with pushf in every pass could never be preempted at all. */
    if ((++spins & 255) == 0)
      __asm__ volatile("pushfq\n\t.rept 400\n\tnop\n\t.endr\n\tpopfq" ::: "memory", "cc");
  }
  return NULL;
}

static void *other(void *arg) {
  (void)arg;
  unsigned long sum = 0;
  while (!stop) sum += random_value() & 1;
  return (void *)sum;
}

int main(void) {
  pthread_t a, b;
  CHECK(pthread_create(&a, NULL, spin, NULL) == 0);
  CHECK(pthread_create(&b, NULL, other, NULL) == 0);
  struct timespec t = {0, 200000000};
  nanosleep(&t, NULL);
  stop = 1;
  void *sum;
  CHECK(pthread_join(a, NULL) == 0 && pthread_join(b, &sum) == 0);
  printf("spun %s, random bits %lu\n", spins > 0 ? "yes" : "no", (unsigned long)sum % 1000);
  return 0;
}
