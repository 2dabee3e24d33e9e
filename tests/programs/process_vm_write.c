/* process_vm_writev into a child's memory and into the caller's own: the
 * child prints what landed in its buffer, which replay must put there as
 * the kernel did, since it does not make the call. */
#include "family.h"
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static char landing[64];

int main(void) {
  int ready[2], written[2];
  CHECK(pipe(ready) == 0 && pipe(written) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    char c = 'r';
    CHECK(write(ready[1], &c, 1) == 1);
    CHECK(read(written[0], &c, 1) == 1);
    printf("child's buffer: %s\n", landing);
    fflush(stdout);
    _exit(0);
  }
  char c;
  CHECK(read(ready[0], &c, 1) == 1);
  char message[64];
  int len = snprintf(message, sizeof message, "nonce %016llx", random_value());
  /* Two pieces, to two places, in the child. */
  struct iovec local = {message, (size_t)len + 1};
  struct iovec remote[2] = {{landing, 6}, {landing + 6, (size_t)len + 1 - 6}};
  CHECK(process_vm_writev(child, &local, 1, remote, 2, 0) == len + 1);
  CHECK(write(written[1], "w", 1) == 1);
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);

  char own[32] = "untouched";
  struct iovec self_local = {"written", 8}, self_remote = {own, 8};
  CHECK(process_vm_writev(getpid(), &self_local, 1, &self_remote, 1, 0) == 8);
  printf("own buffer: %s\n", own);
  return 0;
}
