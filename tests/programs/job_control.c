/* A parent stops a multi-threaded child with SIGSTOP: every thread stops
 * (their counters in shared memory stand still), the parent's waitpid
 * sees the stop, and after SIGCONT every thread runs again and the parent
 * sees the continue. Natively the child stays stopped until SIGCONT; a
 * recorder that resumed it would show counters that move. */
#include "family.h"
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 3
static volatile uint64_t *counters;

static void *spin(void *arg) {
  long i = (long)arg;
  for (;;) counters[i * 8]++;
  return NULL;
}

static int all_moved(const uint64_t *before) {
  for (int i = 0; i < THREADS; i++)
    if (counters[i * 8] == before[i]) return 0;
  return 1;
}

int main(void) {
  counters = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK(counters != MAP_FAILED);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    pthread_t t;
    for (long i = 1; i < THREADS; i++) pthread_create(&t, NULL, spin, (void *)i);
    spin(0);
  }
  uint64_t zero[THREADS] = {0};
  while (!all_moved(zero)) usleep(1000);
  int status;
  for (int round = 0; round < 2; round++) {
    CHECK(kill(child, SIGSTOP) == 0);
    CHECK(waitpid(child, &status, WUNTRACED) == child && WIFSTOPPED(status));
    uint64_t frozen[THREADS];
    for (int i = 0; i < THREADS; i++) frozen[i] = counters[i * 8];
    usleep(20000);
    for (int i = 0; i < THREADS; i++) CHECK(counters[i * 8] == frozen[i]);
    CHECK(kill(child, SIGCONT) == 0);
    CHECK(waitpid(child, &status, WCONTINUED) == child && WIFCONTINUED(status));
    while (!all_moved(frozen)) usleep(1000);
  }
  CHECK(kill(child, SIGKILL) == 0);
  CHECK(waitpid(child, &status, 0) == child && WIFSIGNALED(status));
  printf("stopped and continued %d threads twice, value %llx\n", THREADS, random_value());
  return 0;
}
