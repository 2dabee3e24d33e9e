/* Strict seccomp mode in forked children: read, write and exit still work,
 * and any other call (getpid, even exit_group) ends the child with SIGKILL
 * before it runs. Under the syscall buffer the kernel refuses strict mode
 * (a filter is installed), so the recorder must enforce it itself. */
#include "family.h"
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_child(int how, int pipe_out, unsigned long long nonce) {
  fflush(stdout);
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_STRICT) != 0)
      _exit(50);
    syscall(SYS_write, pipe_out, &nonce, sizeof nonce);
    if (how == 0)
      syscall(SYS_exit, 3);
    if (how == 1)
      syscall(SYS_getpid);
    if (how == 2)
      syscall(SYS_exit_group, 4);
    syscall(SYS_exit, 9);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  return status;
}

int main(void) {
  int fds[2];
  CHECK(pipe(fds) == 0);
  const char *names[] = {"exit(3)", "getpid", "exit_group(4)"};
  for (int how = 0; how < 3; how++) {
    unsigned long long nonce = random_value(), back = 0;
    int status = run_child(how, fds[1], nonce);
    CHECK(!(WIFEXITED(status) && WEXITSTATUS(status) == 50));
    CHECK(read(fds[0], &back, sizeof back) == sizeof back && back == nonce);
    if (how == 0)
      CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 3);
    else
      CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    printf("%s: wrote %016llx, %s\n", names[how], back,
           how == 0 ? "exited 3" : "killed by SIGKILL");
  }
  return 0;
}
