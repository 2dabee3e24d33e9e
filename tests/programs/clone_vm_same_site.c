/* A process made with clone(CLONE_VM | CLONE_SIGHAND | SIGCHLD) shares
 * its parent's memory, code included, but is not one of its threads. It
 * blocks in a read made through libc's syscall() while the parent makes
 * getpid calls through that same call site. The syscall buffer patches a
 * site after a call there returns; the child, still inside the kernel
 * there, must not return into the middle of the patched bytes. */
#include "family.h"
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int channel[2];
static volatile long got;

static int child(void *arg) {
  (void)arg;
  long value = 0;
  if (syscall(SYS_read, channel[0], &value, sizeof value) != sizeof value)
    return 1;
  got = value;
  return 0;
}

int main(void) {
  long nonce = (long)(random_value() >> 1);
  CHECK(pipe(channel) == 0);
  size_t stack_size = 65536;
  char *stack = malloc(stack_size);
  CHECK(stack != NULL);
  pid_t pid = clone(child, stack + stack_size, CLONE_VM | CLONE_SIGHAND | SIGCHLD, NULL);
  CHECK(pid > 0);
  usleep(20000);
  long own = 0;
  for (int i = 0; i < 100; i++)
    own += syscall(SYS_getpid) == getpid();
  CHECK(write(channel[1], &nonce, sizeof nonce) == sizeof nonce);
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  printf("nonce %lx: %ld getpid calls; the child on our memory %s and read %lx\n", nonce, own,
         WIFEXITED(status) ? "exited" : "died of a signal", got);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0 && got == nonce);
  return 0;
}
