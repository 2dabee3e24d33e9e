/* A child made by a raw clone with CLONE_SETTLS and a null TLS pointer:
 * it has no thread-local storage, and makes its syscalls through libc's
 * syscall(), whose site the recorder patched to call the syscall buffer.
 * The buffer's code keeps its state in thread-local storage, and the
 * child died of SIGSEGV where natively it wrote and exited with 77. */
#include "family.h"
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  unsigned long long token = random_value();
  /* The parent's own calls make the site a patched one. */
  for (int i = 0; i < 3; i++)
    CHECK(syscall(SYS_getppid) > 0);
  long child = syscall(SYS_clone, CLONE_SETTLS | SIGCHLD, 0, 0, 0, 0);
  if (child == 0) {
    syscall(SYS_write, 1, "child without TLS\n", 18);
    syscall(SYS_exit_group, 77);
  }
  CHECK(child > 0);
  int status;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 77);
  printf("child exited with 77: %llx\n", token);
  return 0;
}
