/* The main thread execs while other threads spin, loop on a syscall and
 * block in read and pause; the kernel kills them all. Three generations. */
#include "family.h"
#include <pthread.h>
#include <time.h>
#include <unistd.h>

static int blocker[2];
static volatile unsigned long spins;

static void *busy(void *arg) {
  long kind = (long)arg;
  for (;;) {
    if (kind == 0)
      spins++;
    else if (kind == 1)
      getppid();
    else if (kind == 2) {
      char b;
      if (read(blocker[0], &b, 1) < 0) return NULL;
    } else
      pause();
  }
  return NULL;
}

int main(int argc, char **argv) {
  int generation = argc > 1 ? atoi(argv[1]) : 0;
  printf("generation %d random %llx\n", generation, random_value());
  fflush(stdout);
  if (generation == 3) return 0;
  CHECK(pipe(blocker) == 0);
  pthread_t threads[4];
  for (long k = 0; k < 4; k++)
    CHECK(pthread_create(&threads[k], NULL, busy, (void *)k) == 0);
  struct timespec pause_for = {0, 10000000};
  nanosleep(&pause_for, NULL);
  char next[16];
  snprintf(next, sizeof next, "%d", generation + 1);
  char *args[] = {argv[0], next, NULL};
  execv("/proc/self/exe", args);
  CHECK(!"execv returned");
}
