/* A thread waits for a flag by making syscalls in a loop (an mmap that
 * fails: no user time to speak of) while the thread that sets the flag
 * sleeps first. The recorder's time slice counted only user time, so the
 * spinner kept the one CPU and the sleeper never ran again. */
#include "family.h"
#include <pthread.h>
#include <sys/mman.h>
#include <time.h>

static volatile int flag;

static void *spin_on_syscalls(void *unused) {
  (void)unused;
  unsigned long calls = 0;
  while (!flag) {
    CHECK(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, -1, 0) == MAP_FAILED);
    calls++;
  }
  printf("spinner stopped after %s calls\n", calls > 0 ? "some" : "no");
  return NULL;
}

int main(void) {
  pthread_t spinner;
  CHECK(pthread_create(&spinner, NULL, spin_on_syscalls, NULL) == 0);
  struct timespec nap = {0, 5 * 1000 * 1000};
  nanosleep(&nap, NULL);
  flag = 1;
  CHECK(pthread_join(spinner, NULL) == 0);
  printf("woken after the nap: %llx\n", random_value());
  return 0;
}
