/* A thread calls abort() while the main thread sleeps and six others
 * wait in a read: SIGABRT kills the process. The recording may log
 * another thread's death before the aborting thread's; replay had held
 * the signal in that thread for its next event and waited for ever for
 * the other one to die. */
#include "family.h"
#include <pthread.h>
#include <time.h>
#include <unistd.h>

static int never_written[2];

static void *waits_in_read(void *unused) {
  (void)unused;
  char byte;
  CHECK(read(never_written[0], &byte, 1) == 1);
  return NULL;
}

static void *aborts(void *unused) {
  (void)unused;
  printf("aborting after %llx\n", random_value());
  fflush(stdout);
  abort();
}

int main(void) {
  CHECK(pipe(never_written) == 0);
  pthread_t readers[6], aborter;
  for (int i = 0; i < 6; i++)
    CHECK(pthread_create(&readers[i], NULL, waits_in_read, NULL) == 0);
  CHECK(pthread_create(&aborter, NULL, aborts, NULL) == 0);
  struct timespec long_sleep = {5, 0};
  nanosleep(&long_sleep, NULL);
  printf("not reached\n");
  return 0;
}
