/* Waits that swap in a temporary signal mask (pselect, ppoll, epoll_pwait,
 * sigsuspend), each interrupted by a SIGCHLD that the mask lets through
 * only for the wait. The handler must see the temporary mask, and the
 * old mask must be back afterwards. */
#include "family.h"
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int handled;
static volatile int blocked_in_handler;

static void on_child(int sig) {
  (void)sig;
  sigset_t now;
  sigprocmask(SIG_BLOCK, NULL, &now);
  blocked_in_handler = sigismember(&now, SIGUSR1);
  handled++;
}

static pid_t start_child(void) {
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    struct timespec t = {0, 2000000};
    nanosleep(&t, NULL);
    _exit(7);
  }
  return child;
}

static void reap(pid_t child) {
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
}

int main(void) {
  struct sigaction sa = {0};
  sa.sa_handler = on_child;
  CHECK(sigaction(SIGCHLD, &sa, NULL) == 0);
  sigset_t blocked, during;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGCHLD);
  CHECK(sigprocmask(SIG_BLOCK, &blocked, NULL) == 0);
  sigemptyset(&during);
  sigaddset(&during, SIGUSR1);
  int pipefd[2];
  CHECK(pipe(pipefd) == 0);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN};
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, pipefd[0], &ev) == 0);
  const char *names[] = {"pselect", "ppoll", "epoll_pwait", "sigsuspend"};
  for (int round = 0; round < 4; round++) {
    pid_t child = start_child();
    int before = handled;
    long rc;
    if (round == 0) {
      fd_set set;
      FD_ZERO(&set);
      FD_SET(pipefd[0], &set);
      rc = pselect(pipefd[0] + 1, &set, NULL, NULL, NULL, &during);
    } else if (round == 1) {
      struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
      rc = ppoll(&p, 1, NULL, &during);
    } else if (round == 2) {
      struct epoll_event out;
      rc = epoll_pwait(ep, &out, 1, -1, &during);
    } else {
      rc = sigsuspend(&during);
    }
    CHECK(rc == -1 && errno == EINTR);
    CHECK(handled == before + 1);
    CHECK(blocked_in_handler == 1);
    sigset_t now;
    CHECK(sigprocmask(SIG_BLOCK, NULL, &now) == 0);
    CHECK(sigismember(&now, SIGCHLD) && !sigismember(&now, SIGUSR1));
    reap(child);
    printf("%s interrupted by SIGCHLD of %d\n", names[round], child);
  }
  printf("handled %d random %llx\n", handled, random_value());
  return 0;
}
