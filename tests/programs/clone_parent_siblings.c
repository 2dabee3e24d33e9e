/* CLONE_PARENT makes the new process its creator's sibling. Its first stop
 * can reach the recorder before its creator's clone event, and then its
 * creator must be found among the parent's other children: a child that
 * never learned where its syscall buffer is has its buffered writes
 * missing from the recording. Each round a middle process makes such a
 * few siblings, each of which reports its parent and a random value
 * through a pipe with write (a buffered call) and exits; we reap them all. */
#include "family.h"
#include <sched.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { ROUNDS = 30, SIBLINGS = 4, STACK = 64 * 1024 };

static int sibling_body(void *arg) {
  int fd = *(int *)arg;
  char line[64];
  int n = snprintf(line, sizeof line, "parent %d value %llu\n", (int)getppid(),
                   random_value() % 1000);
  return write(fd, line, (size_t)n) == n ? 8 : 1;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  for (int round = 0; round < ROUNDS; round++) {
    int pipe_fds[2];
    CHECK(pipe(pipe_fds) == 0);
    pid_t middle = fork();
    CHECK(middle >= 0);
    if (middle == 0) {
      int made = 0;
      for (int i = 0; i < SIBLINGS; i++) {
        char *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack != MAP_FAILED &&
            clone(sibling_body, stack + STACK, CLONE_PARENT | SIGCHLD, &pipe_fds[1]) > 0)
          made++;
      }
      _exit(made == SIBLINGS ? 0 : 3);
    }
    close(pipe_fds[1]);
    int status;
    CHECK(waitpid(middle, &status, 0) == middle);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < SIBLINGS; i++) {
      pid_t sibling = waitpid(-1, &status, 0);
      CHECK(sibling > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 8);
    }
    char text[64 * SIBLINGS + 1];
    size_t length = 0;
    ssize_t got;
    while ((got = read(pipe_fds[0], text + length, sizeof text - 1 - length)) > 0)
      length += (size_t)got;
    text[length] = 0;
    close(pipe_fds[0]);
    int lines = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"), lines++) {
      int reported_parent = -1;
      unsigned value = 0;
      CHECK(sscanf(line, "parent %d value %u", &reported_parent, &value) == 2);
      CHECK(reported_parent == getpid());
      printf("round %d: a sibling sent %u\n", round, value);
    }
    CHECK(lines == SIBLINGS);
  }
  return 0;
}
