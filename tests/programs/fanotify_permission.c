/* A fanotify listener that answers for opens and reads: a child's open of
 * a marked file waits in the kernel until its parent reads the event and
 * allows it, and a second open is denied. Under the recorder the open must
 * not wait where the listener cannot run. */
#include "family.h"
#include <fcntl.h>
#include <poll.h>
#include <sys/fanotify.h>
#include <sys/wait.h>
#include <unistd.h>

/* Reads one permission event, answers it, and returns the opener's pid. */
static pid_t answer(int group, unsigned int response) {
  struct pollfd p = {.fd = group, .events = POLLIN};
  CHECK(poll(&p, 1, 10000) == 1);
  struct fanotify_event_metadata event;
  CHECK(read(group, &event, sizeof event) == sizeof event);
  CHECK(event.mask & FAN_OPEN_PERM);
  struct fanotify_response reply = {.fd = event.fd, .response = response};
  CHECK(write(group, &reply, sizeof reply) == sizeof reply);
  close(event.fd);
  return event.pid;
}

int main(void) {
  char path[] = "/tmp/replay-fanotify-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unsigned long long nonce = random_value();
  CHECK(write(fd, &nonce, sizeof nonce) == sizeof nonce);
  close(fd);
  int group = fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC, O_RDONLY);
  CHECK(group >= 0);
  CHECK(fanotify_mark(group, FAN_MARK_ADD, FAN_OPEN_PERM, AT_FDCWD, path) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    unsigned long long seen = 0;
    int f = open(path, O_RDONLY);
    if (f < 0 || read(f, &seen, sizeof seen) != sizeof seen)
      _exit(1);
    close(f);
    if (open(path, O_RDONLY) >= 0 || errno != EPERM)
      _exit(2);
    _exit(seen == nonce ? 0 : 3);
  }
  CHECK(answer(group, FAN_ALLOW) == child);
  CHECK(answer(group, FAN_DENY) == child);
  int status;
  CHECK(waitpid(child, &status, 0) == child);
  unlink(path);
  printf("nonce %llx: the child read it after its open was allowed, and its "
         "second open was denied: %s\n",
         nonce, WIFEXITED(status) && WEXITSTATUS(status) == 0 ? "yes" : "no");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  return 0;
}
