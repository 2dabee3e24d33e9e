/* One thread ends the process's image while another keeps interrupting
 * the main thread with signals, as Go's runtime does with SIGURG: with
 * exit_group, or (argument "exec") by exec'ing /bin/echo. The main thread
 * was often waiting for the CPU in the recorder's queue then: resumed
 * just as the kernel stopped it at its exit, it passed that stop
 * unreported and, a zombie group leader, was counted as running for ever
 * (the recording hung). After an exec, the leader's last syscall exit,
 * logged after the exec began, was taken for the exec's (replay
 * diverged). */
#include "family.h"
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long handled, work;
static pid_t main_tid;
static int by_exec;

static void on_signal(int sig) {
  (void)sig;
  handled++;
}

static void *interrupts_main(void *unused) {
  (void)unused;
  struct timespec pause = {0, 20000};
  for (;;) {
    syscall(SYS_tgkill, getpid(), main_tid, SIGURG);
    nanosleep(&pause, NULL);
  }
  return NULL;
}

static void *ends_the_process(void *unused) {
  (void)unused;
  struct timespec pause = {0, 3000};
  for (int i = 0; i < 300; i++)
    nanosleep(&pause, NULL);
  printf("signals handled: %s, value %llu\n", handled ? "some" : "none",
         random_value() % 1000);
  fflush(stdout);
  if (by_exec) {
    execl("/bin/echo", "echo", "exec'd from a thread", (char *)NULL);
    CHECK(!"exec");
  }
  syscall(SYS_exit_group, 0);
  return NULL;
}

int main(int argc, char **argv) {
  by_exec = argc > 1 && strcmp(argv[1], "exec") == 0;
  main_tid = (pid_t)syscall(SYS_gettid);
  CHECK(signal(SIGURG, on_signal) != SIG_ERR);
  pthread_t a, b;
  CHECK(pthread_create(&a, NULL, interrupts_main, NULL) == 0);
  CHECK(pthread_create(&b, NULL, ends_the_process, NULL) == 0);
  struct timespec now;
  for (;;) {
    for (int i = 0; i < 20000; i++)
      work += i;
    clock_gettime(CLOCK_MONOTONIC, &now);
  }
}
