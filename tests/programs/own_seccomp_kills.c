/* A program's own seccomp filter kills: a forked child with
 * SECCOMP_RET_KILL_PROCESS dies of SIGSYS at the call it forbade, and a
 * thread with SECCOMP_RET_KILL_THREAD dies alone while main goes on.
 * The tracer gets no stop for either call. */
#include "family.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void forbid_getpriority(unsigned action) {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getpriority, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, action),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = {sizeof filter / sizeof filter[0], filter};
  CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
  CHECK(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &program) == 0);
}

static void *doomed_thread(void *unused) {
  (void)unused;
  forbid_getpriority(SECCOMP_RET_KILL_THREAD);
  syscall(SYS_getpriority, 0, 0);
  printf("the thread outlived its filter\n");
  return NULL;
}

int main(void) {
  printf("nonce %016llx\n", random_value());
  fflush(stdout);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    forbid_getpriority(SECCOMP_RET_KILL_PROCESS);
    syscall(SYS_getpriority, 0, 0);
    _exit(7);
  }
  int status;
  CHECK(waitpid(child, &status, 0) == child);
  printf("child: signaled %d, signal %d\n", WIFSIGNALED(status),
         WIFSIGNALED(status) ? WTERMSIG(status) : -1);

  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, doomed_thread, NULL) == 0);
  CHECK(pthread_join(thread, NULL) == 0);
  printf("main goes on after its thread was killed, nonce %016llx\n", random_value());
  return 0;
}
