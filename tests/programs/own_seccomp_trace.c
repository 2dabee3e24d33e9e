/* A seccomp filter of the program's own that returns SECCOMP_RET_TRACE
 * (with return data 0, and with data 42) for getppid and uname. With no
 * tracer of the program's own the kernel skips such a call: it fails with
 * ENOSYS and uname's buffer stays as it was. Other calls run. A forked
 * child inherits the filter and sees the same. */
#include "family.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

static void probe(const char *who) {
  errno = 0;
  CHECK(syscall(SYS_getppid) == -1 && errno == ENOSYS);
  struct utsname names;
  memset(&names, 0x5a, sizeof names);
  errno = 0;
  CHECK(syscall(SYS_uname, &names) == -1 && errno == ENOSYS);
  CHECK((unsigned char)names.sysname[0] == 0x5a);
  pid_t me = (pid_t)syscall(SYS_getpid);
  CHECK(me > 0);
  printf("%s %d: getppid and uname failed with ENOSYS, getpid ran\n", who, (int)me);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_uname, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE | 42),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = {sizeof code / sizeof code[0], code};
  CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
  CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) == 0);
  probe("parent");
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    probe("child");
    _exit(0);
  }
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  printf("random %llx\n", random_value() % 100000);
  return 0;
}
