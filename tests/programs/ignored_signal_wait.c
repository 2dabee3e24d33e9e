/* Signals the program ignores (a child's SIGCHLD with the default action,
 * a SIGUSR2 set to SIG_IGN) arrive while it waits in epoll_wait and in
 * io-less waits that answer EINTR when a signal interrupts them. Natively
 * such a signal wakes nobody, so no wait may end early with EINTR. */
#include "family.h"
#include <signal.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

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
  return 0;
}
