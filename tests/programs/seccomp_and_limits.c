/* Kernel rules the program sets for itself and the kernel enforces at a
 * syscall: a seccomp filter that fails one call with an errno and traps
 * another into a SIGSYS handler (which picks the result), inherited by a
 * child; and RLIMIT_FSIZE, whose SIGXFSZ kills a writer past the limit, or
 * gives EFBIG when ignored. Before the filter, no seccomp mode shows. The
 * filter survives exec: a call the new image's library would have
 * buffered is trapped there too. */
#include "family.h"
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

static volatile int trapped_nr;

static void on_sigsys(int sig, siginfo_t *info, void *context) {
  (void)sig;
  trapped_nr = info->si_syscall;
  ((ucontext_t *)context)->uc_mcontext.gregs[REG_RAX] = 4242;
}

static int write_past_limit(long limit, int ignore) {
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    if (ignore) signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {limit, limit};
    CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
    char path[] = "/tmp/replay-fsize-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    static char buf[20000];
    if (write(fd, buf, sizeof buf) != limit) _exit(2);
    errno = 0;
    long r = write(fd, buf, 10);
    _exit(r == -1 && errno == EFBIG ? 7 : 3);
  }
  int status;
  CHECK(waitpid(child, &status, 0) == child);
  return status;
}

/* Run by the child's exec, under the parent's filter. */
static int after_exec(void) {
  struct sigaction sa = {0};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  CHECK(sigaction(SIGSYS, &sa, NULL) == 0);
  /* The first call patches its site; the later ones would be buffered. */
  for (int i = 0; i < 3; i++) {
    trapped_nr = 0;
    CHECK(getppid() == 4242 && trapped_nr == SYS_getppid);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "after-exec") == 0) return after_exec();
  long limit = 5000 + (long)(random_value() % 1000);
  int status = write_past_limit(limit, 0);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ);
  status = write_past_limit(limit, 1);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);

  CHECK(prctl(PR_GET_SECCOMP) == 0);
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_uname, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | 77),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpgrp, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog filter = {sizeof code / sizeof code[0], code};
  struct sigaction sa = {0};
  sa.sa_sigaction = on_sigsys;
  sa.sa_flags = SA_SIGINFO;
  CHECK(sigaction(SIGSYS, &sa, NULL) == 0);
  CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
  CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter) == 0);
  CHECK(prctl(PR_GET_SECCOMP) == 2);
  struct utsname u;
  errno = 0;
  CHECK(uname(&u) == -1 && errno == 77);
  CHECK(syscall(SYS_getpgrp) == 4242 && trapped_nr == SYS_getpgrp);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) _exit(uname(&u) == -1 && errno == 77 ? 0 : 1);
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    execl("/proc/self/exe", argv[0], "after-exec", (char *)NULL);
    _exit(9);
  }
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  printf("limit %ld enforced, filter enforced, %llu\n", limit, random_value() % 1000);
  return 0;
}
