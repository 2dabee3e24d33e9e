/* What a program can ask the kernel about itself must not show the
 * recorder: no parent-death signal, rdtsc enabled, SIGPIPE's default action
 * (a write to a closed pipe kills); and a program that asks for rdtsc to
 * fault gets its SIGSEGV. */
#include "family.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

static sigjmp_buf back;
static volatile int faults;

static void on_segv(int sig) {
  (void)sig;
  faults++;
  siglongjmp(back, 1);
}

/* The number after `key` in /proc/self/status, or -1. */
static long status_field(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  CHECK(f != NULL);
  char line[256];
  long value = -1;
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, strlen(key)) == 0)
      value = strtol(line + strlen(key), NULL, 10);
  fclose(f);
  return value;
}

int main(void) {
  int deathsig = -1;
  CHECK(prctl(PR_GET_PDEATHSIG, &deathsig) == 0);
  CHECK(deathsig == 0);
  /* The syscall buffer's seccomp filter needs no_new_privs; the program
   * did not ask for it, so it is not set, until the program sets it, and
   * then its children have it too. */
  CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
  CHECK(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0);
  /* /proc/self/status names no tracer and says what prctl says: the
   * recorder takes its own marks out of what the program reads there. */
  CHECK(status_field("TracerPid:") == 0);
  CHECK(status_field("NoNewPrivs:") == prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
  CHECK(status_field("Seccomp:") == prctl(PR_GET_SECCOMP, 0, 0, 0, 0));
  CHECK(status_field("Seccomp_filters:") <= 0);
  pid_t nnp = fork();
  CHECK(nnp >= 0);
  if (nnp == 0) {
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
    pid_t grandchild = fork();
    CHECK(grandchild >= 0);
    if (grandchild == 0) _exit(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 1);
    int st;
    CHECK(waitpid(grandchild, &st, 0) == grandchild && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    _exit(0);
  }
  int nnp_status;
  CHECK(waitpid(nnp, &nnp_status, 0) == nnp && WIFEXITED(nnp_status) && WEXITSTATUS(nnp_status) == 0);
  int mode = -1;
  CHECK(prctl(PR_GET_TSC, &mode) == 0);
  CHECK(mode == PR_TSC_ENABLE);
  unsigned long long before = __rdtsc();
  signal(SIGSEGV, on_segv);
  CHECK(prctl(PR_SET_TSC, PR_TSC_SIGSEGV) == 0);
  CHECK(prctl(PR_GET_TSC, &mode) == 0);
  CHECK(mode == PR_TSC_SIGSEGV);
  if (sigsetjmp(back, 1) == 0) {
    unsigned long long t = __rdtsc();
    fprintf(stderr, "FAIL: rdtsc did not fault (%llu)\n", t);
    return 1;
  }
  CHECK(faults == 1);
  CHECK(prctl(PR_SET_TSC, PR_TSC_ENABLE) == 0);
  unsigned long long after = __rdtsc();
  CHECK(after > before);
  CHECK(prctl(PR_SET_TSC, 77) == -1 && errno == EINVAL);
  int broken[2];
  CHECK(pipe(broken) == 0);
  CHECK(close(broken[0]) == 0);
  pid_t writer = fork();
  CHECK(writer >= 0);
  if (writer == 0) {
    ssize_t wrote = write(broken[1], "x", 1);
    printf("FAIL: the write returned %zd instead of killing\n", wrote);
    _exit(0);
  }
  int status = 0;
  CHECK(waitpid(writer, &status, 0) == writer);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE);
  printf("faults %d, tsc went up by %llu, random %llx\n", faults, after - before, random_value());
  return 0;
}
