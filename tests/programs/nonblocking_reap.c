/* A pidfd turns readable when its process exits; natively a wait that
 * does not block then finds the child. A traced child's zombie reaches its
 * parent only once the tracer has reaped it, so without care the wait
 * finds nothing in the moment between. Each round forks a child that exits
 * with a random status, polls its pidfd, and waits with WNOHANG. */
#include "family.h"
#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ROUNDS = 40 };

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  int found_at_once = 0;
  for (int round = 0; round < ROUNDS; round++) {
    int code = (int)(random_value() % 100) + 1;
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0)
      _exit(code);
    int pidfd = (int)syscall(SYS_pidfd_open, child, 0);
    CHECK(pidfd >= 0);
    struct pollfd readable = {pidfd, POLLIN, 0};
    CHECK(poll(&readable, 1, 5000) == 1);
    siginfo_t info = {0};
    CHECK(waitid(P_PIDFD, pidfd, &info, WEXITED | WNOHANG) == 0);
    if (info.si_pid == child)
      found_at_once++;
    else
      CHECK(waitid(P_PIDFD, pidfd, &info, WEXITED) == 0);
    CHECK(info.si_status == code);
    close(pidfd);
    printf("round %d: child exited %d\n", round, info.si_status);
  }
  printf("found at once after the pidfd was readable: %d of %d\n", found_at_once, ROUNDS);
  return 0;
}
