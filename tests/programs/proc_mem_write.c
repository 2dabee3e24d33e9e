/* Memory written through /proc/PID/mem: the program's own (a variable with
 * pwrite, a read-only page with lseek and write, as debuggers and
 * hot-patchers do) and a forked child's, whose exit status then depends on
 * the bytes the parent put there. Replay does not make these writes; the
 * trace must carry what they changed. */
#include "family.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile long cell[3];

int main(void) {
  long value = (long)(random_value() & 0x7fffffff) + 1;
  int self = open("/proc/self/mem", O_RDWR);
  CHECK(self >= 0);
  CHECK(pwrite(self, &value, sizeof value, (off_t)(uintptr_t)&cell[0]) == sizeof value);
  CHECK(cell[0] == value);
  long *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(page != MAP_FAILED);
  CHECK(lseek(self, (off_t)(uintptr_t)&page[5], SEEK_SET) >= 0);
  CHECK(write(self, &value, sizeof value) == sizeof value);
  CHECK(((volatile long *)page)[5] == value);
  close(self);

  int go[2];
  CHECK(pipe(go) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    char b;
    CHECK(read(go[0], &b, 1) == 1);
    _exit(cell[1] == value ? (int)(cell[2] & 0x7f) : 1);
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", child);
  int theirs = open(path, O_WRONLY);
  CHECK(theirs >= 0);
  long code = 10 + value % 100;
  CHECK(pwrite(theirs, &value, sizeof value, (off_t)(uintptr_t)&cell[1]) == sizeof value);
  CHECK(pwrite(theirs, &code, sizeof code, (off_t)(uintptr_t)&cell[2]) == sizeof code);
  close(theirs);
  CHECK(cell[1] == 0);
  CHECK(write(go[1], "g", 1) == 1);
  int status;
  CHECK(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == code);
  printf("wrote %ld into us and %ld into the child\n", value, code);
  return 0;
}
