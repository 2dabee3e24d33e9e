/* What a program can ask the kernel about itself must not show the
 * recorder: no parent-death signal, rdtsc enabled, SIGPIPE's default action
 * (a write to a closed pipe kills); and a program that asks for rdtsc to
 * fault gets its SIGSEGV. */
#include "family.h"
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
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

/* The `key` line of the thread's status, read `chunk` bytes at a time, as
 * the kernel would write it for the program natively: the recorder's
 * rewrite must not show even in the line's bytes. */
static void status_line(const char *key, size_t chunk, char *out, size_t size) {
  int fd = open("/proc/thread-self/status", O_RDONLY);
  CHECK(fd >= 0);
  static char text[16384];
  size_t len = 0;
  ssize_t got;
  while (len + chunk < sizeof text && (got = read(fd, text + len, chunk)) > 0) len += (size_t)got;
  CHECK(lseek(fd, 0, SEEK_CUR) == (off_t)len);
  close(fd);
  text[len] = 0;
  char *line = strstr(text, key);
  CHECK(line != NULL);
  size_t n = strcspn(line, "\n");
  CHECK(n < size);
  memcpy(out, line, n);
  out[n] = 0;
}

/* sched_getaffinity's CPUs as the kernel lists them: "0-3,6". */
static void affinity_list(char *out) {
  cpu_set_t cpus;
  CHECK(sched_getaffinity(0, sizeof cpus, &cpus) == 0);
  out[0] = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &cpus) || (cpu > 0 && CPU_ISSET(cpu - 1, &cpus))) continue;
    int last = cpu;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &cpus)) last++;
    char range[32];
    if (last == cpu) snprintf(range, sizeof range, "%s%d", out[0] ? "," : "", cpu);
    else snprintf(range, sizeof range, "%s%d-%d", out[0] ? "," : "", cpu, last);
    strcat(out, range);
  }
}

/* A thread that blocks five times has made five voluntary context
 * switches, however many ptrace stops the recorder put it through, in
 * getrusage, its status and its sched file alike. */
static void *sleep_five_times(void *arg) {
  (void)arg;
  struct rusage before, after;
  CHECK(getrusage(RUSAGE_THREAD, &before) == 0);
  for (int i = 0; i < 5; i++) usleep(1000);
  CHECK(getrusage(RUSAGE_THREAD, &after) == 0);
  CHECK(after.ru_nvcsw - before.ru_nvcsw == 5);
  char line[256], expected[64];
  status_line("voluntary_ctxt_switches:", 4096, line, sizeof line);
  snprintf(expected, sizeof expected, "voluntary_ctxt_switches:\t%ld", after.ru_nvcsw);
  CHECK(strcmp(line, expected) == 0);
  /* ...and in the scheduler's own view. */
  FILE *sched = fopen("/proc/thread-self/sched", "r");
  CHECK(sched != NULL);
  long voluntary = -1;
  while (fgets(line, sizeof line, sched))
    if (strncmp(line, "nr_voluntary_switches ", 22) == 0) voluntary = strtol(strchr(line, ':') + 1, NULL, 10);
  fclose(sched);
  CHECK(voluntary == after.ru_nvcsw);
  return NULL;
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
  /* ...byte for byte, however the file is read, and with the CPUs the
   * program may run on (not the one the recorder pins it to). */
  char line[256], expected[256];
  for (size_t chunk = 7; chunk <= 4096; chunk *= 8) {
    status_line("TracerPid:", chunk, line, sizeof line);
    CHECK(strcmp(line, "TracerPid:\t0") == 0);
    status_line("Cpus_allowed_list:", chunk, line, sizeof line);
    affinity_list(expected + sprintf(expected, "Cpus_allowed_list:\t"));
    CHECK(strcmp(line, expected) == 0);
  }
  pthread_t sleeper;
  CHECK(pthread_create(&sleeper, NULL, sleep_five_times, NULL) == 0);
  CHECK(pthread_join(sleeper, NULL) == 0);
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
