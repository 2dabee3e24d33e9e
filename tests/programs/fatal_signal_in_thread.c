/* A thread dies of a fatal signal (a NULL write, default action) while
 * another thread of its process is making syscalls: the kernel kills the
 * whole process, in the middle of whatever the other thread was doing.
 * Several children, so that some die with the other thread in a syscall. */
#include "family.h"
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void *busy(void *arg) {
  (void)arg;
  sigset_t none;
  sigemptyset(&none);
  for (;;) {
    sigprocmask(SIG_SETMASK, &none, NULL);
    getppid();
  }
  return NULL;
}

static void *crash(void *arg) {
  (void)arg;
  usleep(1000);
  *(volatile int *)0 = 1;
  return NULL;
}

int main(void) {
  printf("nonce %llx\n", random_value());
  for (int i = 0; i < 6; i++) {
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
      pthread_t a, b;
      pthread_create(&a, NULL, busy, NULL);
      pthread_create(&b, NULL, crash, NULL);
      busy(NULL);
    }
    int status;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    printf("child %d killed by signal %d\n", i, WTERMSIG(status));
  }
  return 0;
}
