/* Reads of the time-stamp counter at the same sites again and again, as a
 * timing loop does: rdtsc and rdtscp from two threads and a forked child,
 * each sequence never going back; then the program asks for rdtsc to
 * fault and gets SIGSEGV at a site it read from before, and reads again
 * once it allows it. The recorder answers the first read at a site and
 * then patches the site to read through the syscall buffer without a
 * stop; the values differ from run to run, and replay must print the
 * recorded ones. */
#include "family.h"
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

#define READS 20000

static __attribute__((noinline)) unsigned long long read_tsc(void) { return __rdtsc(); }

static __attribute__((noinline)) unsigned long long read_tscp(unsigned *aux) {
  return __rdtscp(aux);
}

/* The sum of the steps between READS reads alternating the two sites; 0
 * when a read went back. */
static unsigned long long steps(void) {
  unsigned long long previous = read_tsc(), sum = 0;
  unsigned aux;
  for (int i = 0; i < READS; i++) {
    unsigned long long now = (i & 1) ? read_tscp(&aux) : read_tsc();
    if (now < previous) return 0;
    sum += now - previous;
    previous = now;
  }
  return sum;
}

static void *thread_steps(void *result) {
  *(unsigned long long *)result = steps();
  return NULL;
}

static sigjmp_buf back;

static void on_segv(int sig) {
  (void)sig;
  siglongjmp(back, 1);
}

int main(void) {
  unsigned long long mine = steps(), theirs = 0;
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, thread_steps, &theirs) == 0);
  unsigned long long concurrent = steps();
  CHECK(pthread_join(thread, NULL) == 0);
  CHECK(mine > 0 && theirs > 0 && concurrent > 0);
  int pipe_fds[2];
  CHECK(pipe(pipe_fds) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    unsigned long long in_child = steps();
    _exit(write(pipe_fds[1], &in_child, sizeof in_child) == sizeof in_child ? 0 : 1);
  }
  unsigned long long in_child = 0;
  CHECK(read(pipe_fds[0], &in_child, sizeof in_child) == sizeof in_child);
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  CHECK(in_child > 0);
  /* The program's own choice still holds at a site read from before. */
  signal(SIGSEGV, on_segv);
  CHECK(prctl(PR_SET_TSC, PR_TSC_SIGSEGV) == 0);
  int faulted = 0;
  if (sigsetjmp(back, 1) == 0) {
    unsigned long long t = read_tsc();
    fprintf(stderr, "FAIL: rdtsc did not fault (%llu)\n", t);
    return 1;
  }
  faulted++;
  if (sigsetjmp(back, 1) == 0) {
    unsigned aux;
    unsigned long long t = read_tscp(&aux);
    fprintf(stderr, "FAIL: rdtscp did not fault (%llu)\n", t);
    return 1;
  }
  faulted++;
  CHECK(prctl(PR_SET_TSC, PR_TSC_ENABLE) == 0);
  unsigned long long after = steps();
  CHECK(after > 0);
  printf("steps %llu %llu %llu child %llu after %llu, %d faults\n", mine, theirs, concurrent,
         in_child, after, faulted);
  return 0;
}
