/* A child in a new PID namespace (pid 1 there) forks and starts a thread:
 * their ids are the namespace's (2, 3...), not the ones the recorder
 * sees. Prints every id the program sees, which must be the same natively
 * and recorded. Needs CAP_SYS_ADMIN; without it, says so and exits 3. */
#include "family.h"
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char stack[256 * 1024] __attribute__((aligned(16)));

static void *thread_main(void *arg) {
  (void)arg;
  printf("thread: tid %ld\n", (long)syscall(SYS_gettid));
  fflush(stdout);
  return NULL;
}

static int in_namespace(void *arg) {
  (void)arg;
  printf("namespace init: pid %d ppid %d\n", getpid(), getppid());
  fflush(stdout);
  pid_t grandchild = fork();
  CHECK(grandchild >= 0);
  if (grandchild == 0) {
    printf("grandchild: pid %d ppid %d\n", getpid(), getppid());
    fflush(stdout);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    _exit(7);
  }
  printf("namespace init: forked %d\n", grandchild);
  int status;
  CHECK(waitpid(grandchild, &status, 0) == grandchild);
  printf("namespace init: grandchild exited %d\n", WEXITSTATUS(status));
  fflush(stdout);
  return 9;
}

int main(void) {
  printf("nonce %llx\n", random_value());
  fflush(stdout);
  pid_t child = clone(in_namespace, stack + sizeof stack, CLONE_NEWPID | SIGCHLD, NULL);
  if (child < 0 && errno == EPERM) {
    printf("no PID namespace: %s\n", strerror(errno));
    return 3;
  }
  CHECK(child > 0);
  int status;
  CHECK(waitpid(child, &status, 0) == child);
  printf("child exited %d\n", WEXITSTATUS(status));
  return 0;
}
