/* Two real-time (SCHED_FIFO) threads of one priority on one CPU take
 * turns by yielding: the kernel puts a yielding thread behind the others
 * of its priority, so the turns alternate strictly. Under the recorder a
 * yield kept the CPU, and one thread ran its whole loop first. */
#include "family.h"
#include <pthread.h>
#include <sched.h>

#define TURNS 40

static char order[2 * TURNS + 1];
static int next_slot;
static pthread_barrier_t start;
static unsigned long long stamps[2];

static void *take_turns(void *letter) {
  pthread_barrier_wait(&start);
  for (int i = 0; i < TURNS; i++) {
    order[__atomic_fetch_add(&next_slot, 1, __ATOMIC_SEQ_CST)] = (char)(long)letter;
    sched_yield();
  }
  stamps[(long)letter - 'a'] = random_value();
  return NULL;
}

int main(void) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  CHECK(sched_setaffinity(0, sizeof one, &one) == 0);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setinheritsched(&attr, PTHREAD_EXPLICIT_SCHED);
  pthread_attr_setschedpolicy(&attr, SCHED_FIFO);
  struct sched_param priority = {.sched_priority = 10};
  pthread_attr_setschedparam(&attr, &priority);
  pthread_barrier_init(&start, NULL, 3);
  pthread_t threads[2];
  if (pthread_create(&threads[0], &attr, take_turns, (void *)'a') != 0) {
    printf("no SCHED_FIFO here: %llx\n", random_value());
    return 0;
  }
  CHECK(pthread_create(&threads[1], &attr, take_turns, (void *)'b') == 0);
  pthread_barrier_wait(&start);
  for (int i = 0; i < 2; i++)
    CHECK(pthread_join(threads[i], NULL) == 0);
  int switches = 0;
  for (int i = 1; i < 2 * TURNS; i++)
    switches += order[i] != order[i - 1];
  /* The turns may go either way while both start; then they alternate. */
  CHECK(switches >= 2 * TURNS - 6);
  printf("%d switches, %.12s... (%llx %llx)\n", switches, order, stamps[0], stamps[1]);
  return 0;
}
