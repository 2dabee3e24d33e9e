/* clone(CLONE_UNTRACED), and clone3 with it in its struct: the child must
 * be recorded like any other (a child the recorder cannot see would run
 * unrecorded), and the program must still see the flags it passed. */
#include <linux/sched.h>
#include "family.h"
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  unsigned long flags = CLONE_UNTRACED | SIGCHLD;
  long child = syscall(SYS_clone, flags, 0, NULL, NULL, 0);
  CHECK(child >= 0);
  if (child == 0) {
    printf("child %ld random %llx\n", (long)syscall(SYS_getpid), random_value());
    fflush(stdout);
    syscall(SYS_exit_group, 42);
  }
  int status = 0;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 42);
  printf("parent saw exit 42 of %ld\n", child);

  struct clone_args args;
  memset(&args, 0, sizeof args);
  args.flags = CLONE_UNTRACED;
  args.exit_signal = SIGCHLD;
  fflush(stdout);
  child = syscall(SYS_clone3, &args, sizeof args);
  CHECK(child >= 0);
  if (child == 0) {
    printf("clone3 child %ld random %llx\n", (long)syscall(SYS_getpid), random_value());
    fflush(stdout);
    syscall(SYS_exit_group, 43);
  }
  CHECK(args.flags == CLONE_UNTRACED);
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 43);
  printf("parent saw exit 43 of %ld\n", child);
  return 0;
}
