/* A thread made with a raw clone that gives it no thread-local storage of
 * its own (CLONE_THREAD without CLONE_SETTLS): it runs on its creator's
 * TLS, and so finds its creator's syscall buffer there. Both make calls
 * the buffer takes (getppid, stat of its /proc/self/task entry), the
 * creator waits for it through CLONE_CHILD_CLEARTID's futex wake, and
 * checks that the thread's task entry is gone afterwards. */
#include "family.h"
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static pid_t parent_tid_word, child_tid_word;
static volatile long child_calls;

static int thread_main(void *arg) {
  (void)arg;
  /* Raw calls through libc's syscall(): no errno, no other libc state. */
  for (int i = 0; i < 50; i++) child_calls += syscall(SYS_getppid) > 0;
  struct timespec pause = {0, 20 * 1000000L};
  syscall(SYS_nanosleep, &pause, NULL);
  return 0;
}

int main(void) {
  size_t size = 256 * 1024;
  char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(stack != MAP_FAILED);
  int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
              CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
  pid_t tid = clone(thread_main, stack + size, flags, NULL, &parent_tid_word, NULL, &child_tid_word);
  CHECK(tid > 0 && parent_tid_word == tid);
  char entry[64];
  snprintf(entry, sizeof entry, "/proc/self/task/%d", tid);
  struct stat st;
  int seen = 0;
  for (int i = 0; i < 20; i++) seen += stat(entry, &st) == 0;
  for (pid_t v; (v = __atomic_load_n(&child_tid_word, __ATOMIC_SEQ_CST)) != 0;)
    syscall(SYS_futex, &child_tid_word, FUTEX_WAIT, v, NULL, NULL, 0);
  int gone = 0;
  for (int i = 0; i < 200 && !gone; i++) {
    gone = stat(entry, &st) != 0;
    if (!gone) usleep(1000);
  }
  CHECK(seen > 0 && gone && child_calls == 50);
  printf("thread %d seen %d times, its calls %ld, random %llx\n", tid, seen, child_calls,
         random_value());
  return 0;
}
