/* A process that forbids memory both writable and executable
 * (PR_SET_MDWE): the kernel refuses such mappings from then on, in it and
 * in what it execs. Replay maps pages of its own in the process (its
 * injection page after the exec, probe pages at preemption points in the
 * spinning threads), which must obey the same rule. */
#include "family.h"
#include <pthread.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PR_SET_MDWE
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#endif

static volatile int stop;

static void *spinner(void *seed) {
  unsigned long long x = (unsigned long long)seed, passes = 0;
  while (!stop) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    passes++;
  }
  printf("spinner: %llu passes, %016llx\n", passes, x);
  return NULL;
}

static void under_mdwe(void) {
  CHECK(prctl(PR_GET_MDWE, 0, 0, 0, 0) == 1);
  errno = 0;
  void *wx = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(wx == MAP_FAILED && errno == EACCES);
  pthread_t threads[2];
  for (int i = 0; i < 2; i++)
    CHECK(pthread_create(&threads[i], NULL, spinner, (void *)random_value()) == 0);
  struct timespec pause = {0, 30 * 1000 * 1000};
  nanosleep(&pause, NULL);
  stop = 1;
  for (int i = 0; i < 2; i++)
    CHECK(pthread_join(threads[i], NULL) == 0);
}

int main(int argc, char **argv) {
  if (argc > 1) {
    under_mdwe();
    printf("exec'd under MDWE: %llx\n", random_value());
    return 0;
  }
  fflush(stdout);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    if (prctl(PR_SET_MDWE, 1, 0, 0, 0) != 0) {
      printf("MDWE unsupported here: %s\n", strerror(errno));
      fflush(stdout);
      _exit(0);
    }
    under_mdwe();
    fflush(stdout);
    execl("/proc/self/exe", argv[0], "again", (char *)NULL);
    CHECK(!"exec");
  }
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(prctl(PR_GET_MDWE, 0, 0, 0, 0) == 0);
  printf("parent unaffected: %llx\n", random_value());
  return 0;
}
