/* Output the kernel copies to stdout without it passing through the
 * program's memory: sendfile, copy_file_range, splice and tee; and child
 * processes writing to one stdout at once. Replay must print every byte in
 * the order the recording's stdout received them. */
#define _GNU_SOURCE
#include "family.h"
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
#include <unistd.h>

static int file_with(const char *text) {
  char path[] = "/tmp/replay-output-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  CHECK(unlink(path) == 0);
  CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
  CHECK(lseek(fd, 0, SEEK_SET) == 0);
  return fd;
}

int main(void) {
  char line[128];
  fflush(stdout);
  snprintf(line, sizeof line, "sendfile %llx\n", random_value());
  int fd = file_with(line);
  CHECK(sendfile(1, fd, NULL, strlen(line)) == (ssize_t)strlen(line));

  snprintf(line, sizeof line, "copy_file_range %llx\n", random_value());
  fd = file_with(line);
  ssize_t copied = copy_file_range(fd, NULL, 1, NULL, strlen(line), 0);
  if (copied < 0) /* stdout is a pipe or terminal: the kernel refuses */
    CHECK(write(1, line, strlen(line)) == (ssize_t)strlen(line));

  snprintf(line, sizeof line, "splice from a file %llx\n", random_value());
  fd = file_with(line);
  loff_t offset = 0;
  copied = splice(fd, &offset, 1, NULL, strlen(line), 0);
  if (copied < 0) /* splice needs a pipe on one side */
    CHECK(write(1, line, strlen(line)) == (ssize_t)strlen(line));

  int p[2];
  CHECK(pipe(p) == 0);
  snprintf(line, sizeof line, "through a pipe %llx\n", random_value());
  CHECK(write(p[1], line, strlen(line)) == (ssize_t)strlen(line));
  ssize_t teed = tee(p[0], 1, strlen(line), 0);
  if (teed < 0) /* tee needs pipes on both sides */
    CHECK(write(1, line, strlen(line)) == (ssize_t)strlen(line));
  copied = splice(p[0], NULL, 1, NULL, strlen(line), 0);
  if (copied < 0)
    CHECK(write(1, line, strlen(line)) == (ssize_t)strlen(line));

  for (int c = 0; c < 3; c++) {
    if (fork() == 0) {
      for (int i = 0; i < 20; i++) {
        snprintf(line, sizeof line, "child %d line %d pid %d\n", c, i, getpid());
        CHECK(write(1, line, strlen(line)) == (ssize_t)strlen(line));
      }
      _exit(0);
    }
  }
  while (wait(NULL) > 0) {
  }
  return 0;
}
