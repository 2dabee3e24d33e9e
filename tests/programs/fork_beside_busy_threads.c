/* fork while other threads are busy: one spins incrementing a counter,
 * two take and release a mutex in a loop (so that it is often contended).
 * Each child reports the counter and the mutex word as its copy of memory
 * holds them. The kernel copies memory while the forking thread is inside
 * fork (longer for a bigger process, so a large touched block makes the
 * window wide): a recorder that let another thread run user code
 * meanwhile would give the child a copy that replay, which forks first,
 * cannot reproduce. */
#include "family.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { FORKS = 20 };
static const size_t BULK = 1024u << 20;

static atomic_long counter;
static atomic_int stop;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long guarded;

static void *spin(void *arg) {
  (void)arg;
  while (!atomic_load(&stop))
    atomic_fetch_add(&counter, 1);
  return NULL;
}

static void *contend(void *arg) {
  (void)arg;
  while (!atomic_load(&stop)) {
    pthread_mutex_lock(&lock);
    guarded++;
    pthread_mutex_unlock(&lock);
  }
  return NULL;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  char *bulk = mmap(NULL, BULK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(bulk != MAP_FAILED);
  memset(bulk, 1, BULK);
  pthread_t threads[3];
  CHECK(pthread_create(&threads[0], NULL, spin, NULL) == 0);
  CHECK(pthread_create(&threads[1], NULL, contend, NULL) == 0);
  CHECK(pthread_create(&threads[2], NULL, contend, NULL) == 0);
  for (int round = 0; round < FORKS; round++) {
    int pipe_fds[2];
    CHECK(pipe(pipe_fds) == 0);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
      char line[128];
      int n = snprintf(line, sizeof line, "counter %ld guarded %ld lock word %d\n",
                       atomic_load(&counter), guarded, *(volatile int *)&lock);
      _exit(write(pipe_fds[1], line, (size_t)n) == n ? 0 : 1);
    }
    close(pipe_fds[1]);
    char line[128] = {0};
    CHECK(read(pipe_fds[0], line, sizeof line - 1) > 0);
    close(pipe_fds[0]);
    int status;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    printf("child %d saw %s", round, line);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < 3; i++)
    pthread_join(threads[i], NULL);
  return 0;
}
