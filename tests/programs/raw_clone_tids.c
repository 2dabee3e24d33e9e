/* A raw clone of a thread with CLONE_CHILD_SETTID and CLONE_CHILD_CLEARTID:
 * the caller reads the tid the kernel wrote into the word it shares with
 * the child and waits on that word with FUTEX_WAIT until the child's exit
 * clears it. The value it passes to futex is the recorded tid in replay
 * too. Then a CLONE_VM process whose write the parent sees. */
#include "family.h"
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t parent_tid_word, child_tid_word = -1, seen_tid;
static volatile long counter;

static int thread_body(void *arg) {
  seen_tid = (pid_t)syscall(SYS_gettid);
  for (int i = 0; i < 1000; i++)
    counter += (long)arg;
  return 0; /* the clone wrapper calls SYS_exit: only this thread ends */
}

static int process_body(void *arg) {
  *(volatile int *)arg = 0xbeef;
  return 7;
}

int main(void) {
  size_t size = 256 * 1024;
  char *stack = malloc(size), *other_stack = malloc(size);
  int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
              CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID |
              CLONE_CHILD_CLEARTID;
  int tid = clone(thread_body, stack + size, flags, (void *)(long)(random_value() % 7 + 1),
                  &parent_tid_word, NULL, &child_tid_word);
  CHECK(tid > 0);
  int waits = 0;
  for (;;) {
    pid_t seen = child_tid_word;
    if (seen == 0)
      break;
    CHECK(seen == tid || seen == -1);
    syscall(SYS_futex, &child_tid_word, FUTEX_WAIT, seen, NULL, NULL, 0);
    waits++;
  }
  CHECK(parent_tid_word == tid && seen_tid == tid);
  printf("thread %d ran, counter %ld, waited %s\n", tid, counter, waits ? "yes" : "no");

  volatile int shared = 0;
  int child = clone(process_body, other_stack + size, CLONE_VM | SIGCHLD, (void *)&shared);
  CHECK(child > 0);
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 7);
  CHECK(shared == 0xbeef);
  printf("CLONE_VM process %d exited 7\n", child);
  return 0;
}
