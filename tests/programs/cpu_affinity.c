/* The CPUs a program may run on, as it sees them: the recorder runs it on
 * one CPU, but sched_getaffinity (nproc, a JVM's collector choice, a
 * runtime's pool size) must answer what it would natively, in the process,
 * its threads and its children, until the program sets an affinity of its
 * own, which it then reads back, and where rdtscp then names the CPU it
 * moved to. Prints one line per view, and a nonce. */
#include "family.h"
#include <pthread.h>
#include <x86intrin.h>
#include <sched.h>
#include <sys/wait.h>

static void print_view(const char *who) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
  printf("%s: %d CPUs:", who, CPU_COUNT(&set));
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET(cpu, &set)) printf(" %d", cpu);
  printf("\n");
}

static void *thread_view(void *arg) {
  (void)arg;
  print_view("thread");
  return NULL;
}

int main(void) {
  print_view("process");
  pthread_t thread;
  CHECK(pthread_create(&thread, NULL, thread_view, NULL) == 0);
  CHECK(pthread_join(thread, NULL) == 0);
  fflush(stdout);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    print_view("child");
    _exit(0);
  }
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
  /* The highest CPU it may use, alone: what it reads back is its own. */
  cpu_set_t set;
  CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
  int last = -1;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    if (CPU_ISSET(cpu, &set)) last = cpu;
  CPU_ZERO(&set);
  CPU_SET(last, &set);
  CHECK(sched_setaffinity(0, sizeof set, &set) == 0);
  print_view("pinned by itself");
  /* rdtscp's TSC_AUX names the CPU the thread runs on (the recorder
   * answers it, from its own CPU unless it looks). */
  unsigned aux = 0;
  __rdtscp(&aux);
  printf("rdtscp names the CPU it runs on: %s\n", (int)(aux & 0xfff) == sched_getcpu() ? "yes" : "no");
  CHECK(pthread_create(&thread, NULL, thread_view, NULL) == 0);
  CHECK(pthread_join(thread, NULL) == 0);
  printf("nonce %llx\n", random_value());
  return 0;
}
