/* Signals sent to a stopped child stay pending; SIGCONT lets the kernel
 * deliver them all before the child runs again: SIGUSR1's frame first,
 * SIGCONT (no handler, no frame), then SIGRTMIN's on top, so SIGRTMIN's
 * handler runs first. The recorder must not hold SIGRTMIN until
 * SIGUSR1's handler has run. */
#include "family.h"
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

struct shared {
  volatile int order[2];
  volatile int count;
  volatile int value;
};
static struct shared *shared;

static void on_usr1(int sig) { shared->order[shared->count++] = sig; }

static void on_rt(int sig, siginfo_t *info, void *context) {
  (void)context;
  shared->value = info->si_value.sival_int;
  shared->order[shared->count++] = sig;
}

int main(void) {
  int value = (int)(random_value() & 0x7fffffff);
  shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK(shared != MAP_FAILED);
  int ready[2];
  CHECK(pipe(ready) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    struct sigaction sa = {.sa_handler = on_usr1};
    CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
    sa.sa_sigaction = on_rt;
    sa.sa_flags = SA_SIGINFO;
    CHECK(sigaction(SIGRTMIN, &sa, NULL) == 0);
    CHECK(write(ready[1], "r", 1) == 1);
    for (;;)
      pause();
  }
  char byte;
  CHECK(read(ready[0], &byte, 1) == 1);
  int status;
  CHECK(kill(child, SIGSTOP) == 0);
  CHECK(waitpid(child, &status, WUNTRACED) == child && WIFSTOPPED(status));
  CHECK(kill(child, SIGUSR1) == 0);
  CHECK(sigqueue(child, SIGRTMIN, (union sigval){.sival_int = value}) == 0);
  CHECK(kill(child, SIGCONT) == 0);
  for (int i = 0; i < 5000 && shared->count < 2; i++)
    usleep(1000);
  CHECK(kill(child, SIGKILL) == 0);
  CHECK(waitpid(child, &status, 0) == child);
  printf("value %d: handlers ran %d then %d\n", shared->value, shared->order[0],
         shared->order[1]);
  CHECK(shared->count == 2 && shared->value == value);
  CHECK(shared->order[0] == SIGRTMIN && shared->order[1] == SIGUSR1);
  return 0;
}
