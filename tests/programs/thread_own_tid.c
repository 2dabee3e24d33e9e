/* A new thread's pthread id carries its kernel tid (CLONE_PARENT_SETTID),
 * which glibc uses for pthread_getcpuclockid: the clock a thread reads
 * right after it starts must name the recorded tid in replay too. */
#include "family.h"
#include <pthread.h>
#include <sched.h>
#include <time.h>

static void *worker(void *arg) {
  (void)arg;
  clockid_t clock;
  CHECK(pthread_getcpuclockid(pthread_self(), &clock) == 0);
  struct timespec t;
  CHECK(clock_gettime(clock, &t) == 0);
  cpu_set_t set;
  CHECK(pthread_getaffinity_np(pthread_self(), sizeof set, &set) == 0);
  return (void *)(long)(t.tv_nsec % 1000);
}

int main(void) {
  long total = 0;
  for (int i = 0; i < 8; i++) {
    pthread_t t;
    void *r;
    CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
    CHECK(pthread_join(t, &r) == 0);
    total += (long)r;
  }
  printf("cpu time sum %ld random %llx\n", total, random_value());
  return 0;
}
