/* Signals the program ignores (a child's SIGCHLD with the default action,
 * a SIGUSR2 set to SIG_IGN) arrive while it waits in epoll_wait, which
 * answers EINTR when a signal interrupts it. Natively such a signal wakes
 * nobody, so the wait may not end early with EINTR. And a wait that a
 * handled signal does interrupt still ends with EINTR when an ignored
 * SIGCHLD is pending as the handler returns. */
#include "family.h"
#include <signal.h>
#include <sys/epoll.h>
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t handler_child;

static void on_usr1(int sig) {
  (void)sig;
  /* A child that is gone by the time the handler returns: its SIGCHLD is
   * pending (traced) when rt_sigreturn puts the interrupted read's EINTR
   * back. */
  handler_child = fork();
  if (handler_child == 0) _exit(0);
  siginfo_t info;
  waitid(P_PID, handler_child, &info, WEXITED | WNOWAIT);
}

int main(void) {
  CHECK(signal(SIGUSR2, SIG_IGN) != SIG_ERR);
  int p[2];
  CHECK(pipe(p) == 0);
  int ep = epoll_create1(0);
  CHECK(ep >= 0);
  struct epoll_event e = {.events = EPOLLIN, .data.u32 = 7};
  CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &e) == 0);
  pid_t parent = getpid();
  /* Three children end (three SIGCHLDs) and one sends SIGUSR2, all before
   * the last one writes to the pipe, while the parent waits. */
  for (int i = 0; i < 4; i++) {
    pid_t c = fork();
    CHECK(c >= 0);
    if (c == 0) {
      usleep(20000 * (i + 1));
      if (i == 2) kill(parent, SIGUSR2);
      if (i == 3) CHECK(write(p[1], "x", 1) == 1);
      _exit(0);
    }
  }
  struct epoll_event got[2];
  int n = epoll_wait(ep, got, 2, 5000);
  CHECK(n == 1 && got[0].data.u32 == 7);
  for (int i = 0; i < 4; i++) CHECK(wait(NULL) > 0);
  printf("epoll_wait woke for the pipe only (%d event), value %llx\n", n, random_value());

  struct sigaction sa = {0};
  sa.sa_handler = on_usr1; /* no SA_RESTART: the read ends with EINTR */
  CHECK(sigaction(SIGUSR1, &sa, NULL) == 0);
  int q[2];
  CHECK(pipe(q) == 0);
  pid_t sender = fork();
  CHECK(sender >= 0);
  if (sender == 0) {
    usleep(20000);
    kill(parent, SIGUSR1);
    _exit(0);
  }
  char b;
  errno = 0;
  ssize_t r = read(q[0], &b, 1);
  CHECK(r == -1 && errno == EINTR);
  CHECK(waitpid(handler_child, NULL, 0) == handler_child && waitpid(sender, NULL, 0) == sender);
  printf("read interrupted by a handled signal: errno %d\n", errno);
  return 0;
}
