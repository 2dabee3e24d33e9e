/* Processes that share the parent's memory without being its threads:
 * clone(CLONE_VM | SIGCHLD), with and without CLONE_FILES, one after
 * another, each making the calls the syscall buffer takes (open, read,
 * close). The kernel reports such a clone as a fork; the children still
 * run on the parent's memory, where the recorder's syscall hooks are. */
#include "family.h"
#include <fcntl.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { CHILDREN = 4 };

static volatile long seen[CHILDREN];
static volatile int opened = -1;

static int child(void *arg) {
  long i = (long)arg;
  int fd = open("/dev/urandom", O_RDONLY);
  if (fd < 0) return 2;
  long value = 0;
  if (read(fd, &value, sizeof value) != sizeof value) return 3;
  seen[i] = value | 1;
  opened = open("/dev/null", O_RDONLY);
  return close(fd) == 0 ? 0 : 4;
}

static char *stack_top(void) {
  char *s = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(s != MAP_FAILED);
  return s + (1 << 16);
}

int main(void) {
  unsigned long long mix = 0;
  for (long i = 0; i < CHILDREN; i++) {
    int files = i % 2 ? CLONE_FILES : 0;
    pid_t c = clone(child, stack_top(), CLONE_VM | files | SIGCHLD, (void *)i);
    CHECK(c > 0);
    int status;
    CHECK(waitpid(c, &status, 0) == c);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(seen[i] != 0);
    /* Only a child that shared our fd table left its fd open here. */
    CHECK((fcntl(opened, F_GETFD) >= 0) == (files != 0));
    if (files) close(opened);
    mix ^= (unsigned long long)seen[i];
  }
  printf("%d children on our memory, %llu\n", CHILDREN, mix % 100000);
  return 0;
}
