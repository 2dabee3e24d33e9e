/* Children in one process group are killed at once while the parent waits
 * for the first of them. Under ptrace, each SIGCHLD (ignored by default)
 * still stops the parent, and the wait is restarted after them: the
 * recorder must see the restarted wait4, even when a second SIGCHLD stops
 * the parent before the restart. */
#include "family.h"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

enum { CHILDREN = 8, ROUNDS = 3 };

static void round_of_kills(void) {
  int ready[2];
  CHECK(pipe(ready) == 0);
  pid_t kids[CHILDREN], group = 0;
  for (int i = 0; i < CHILDREN; i++) {
    kids[i] = fork();
    CHECK(kids[i] >= 0);
    if (kids[i] == 0) {
      setpgid(0, group);
      CHECK(write(ready[1], "r", 1) == 1);
      for (;;) pause();
    }
    if (!group) group = kids[0];
    setpgid(kids[i], group);
  }
  for (int i = 0; i < CHILDREN; i++) {
    char b;
    CHECK(read(ready[0], &b, 1) == 1);
  }
  CHECK(kill(-group, SIGUSR1) == 0);
  for (int i = 0; i < CHILDREN; i++) {
    int status;
    CHECK(waitpid(kids[i], &status, 0) == kids[i]);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGUSR1);
  }
  close(ready[0]);
  close(ready[1]);
}

int main(void) {
  for (int r = 0; r < ROUNDS; r++) round_of_kills();
  printf("%d groups of %d killed at once, then %llu\n", ROUNDS, CHILDREN,
         random_value() % 1000);
  return 0;
}
