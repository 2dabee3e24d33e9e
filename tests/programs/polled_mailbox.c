/* A child spins on a variable without making a syscall while its parent
 * writes it from outside: first through /proc/PID/mem, then with
 * process_vm_writev. The child sees each value in the middle of its loop,
 * while the parent is still in its write; replay must hand it the value
 * at the same point, not when the parent's call returns. */
#include "family.h"
#include <fcntl.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile unsigned long mailbox[2];

/* Spins until mailbox[slot] is set, then reports it on `out`. */
static void wait_for_mail(int slot, int out) {
  unsigned long spins = 0;
  while (mailbox[slot] == 0)
    spins++;
  unsigned long got = mailbox[slot];
  CHECK(write(out, &got, sizeof got) == sizeof got);
}

int main(void) {
  unsigned long values[2] = {random_value() | 1, random_value() | 1};
  int results[2];
  CHECK(pipe(results) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    wait_for_mail(0, results[1]);
    wait_for_mail(1, results[1]);
    _exit(0);
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", child);
  int mem = open(path, O_RDWR);
  CHECK(mem >= 0);
  CHECK(pwrite(mem, &values[0], sizeof values[0], (off_t)(uintptr_t)&mailbox[0]) ==
        sizeof values[0]);
  unsigned long got[2];
  CHECK(read(results[0], &got[0], sizeof got[0]) == sizeof got[0]);
  struct iovec local = {&values[1], sizeof values[1]};
  struct iovec remote = {(void *)&mailbox[1], sizeof values[1]};
  CHECK(process_vm_writev(child, &local, 1, &remote, 1, 0) == sizeof values[1]);
  CHECK(read(results[0], &got[1], sizeof got[1]) == sizeof got[1]);
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status));
  printf("the child saw %lx through /proc/PID/mem and %lx from process_vm_writev\n",
         got[0], got[1]);
  CHECK(got[0] == values[0] && got[1] == values[1]);
  return 0;
}
