/* A process holds a write lease on a file; its child's open of that file
 * waits in the kernel until the holder, told by SIGIO, gives the lease up.
 * Under the recorder the open must not wait where the holder cannot run. */
#include "family.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t broken;

static void on_break(int sig) {
  (void)sig;
  broken = 1;
}

int main(void) {
  char path[] = "/tmp/replay-lease-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unsigned long long nonce = random_value();
  CHECK(write(fd, &nonce, sizeof nonce) == sizeof nonce);
  CHECK(signal(SIGIO, on_break) != SIG_ERR);
  CHECK(fcntl(fd, F_SETLEASE, F_WRLCK) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    int f = open(path, O_RDONLY);
    unsigned long long seen = 0;
    if (f < 0 || read(f, &seen, sizeof seen) != sizeof seen)
      _exit(1);
    _exit(seen == nonce ? 0 : 2);
  }
  while (!broken)
    usleep(1000);
  CHECK(fcntl(fd, F_SETLEASE, F_UNLCK) == 0);
  int status;
  CHECK(waitpid(child, &status, 0) == child);
  unlink(path);
  printf("nonce %llx, the child read it: %s\n", nonce,
         WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "yes" : "no");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return 0;
}
