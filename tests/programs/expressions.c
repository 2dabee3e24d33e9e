/* Functions for gdb to call from expressions at `marker`: one returning a
 * number, one a struct, one with a side effect on a global, one that makes
 * a syscall a diversion refuses, one that writes to the terminal. The buffer holds a random value, so that every recording
 * differs. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

struct pair {
  long first;
  long second;
  double ratio;
};

struct pair make_pair(long x) {
  struct pair p = {x, x * 2, x / 4.0};
  return p;
}

long twice(long x) { return 2 * x; }

volatile long counter;

void bump(void) { counter++; }

int pid_of_me(void) { return getpid(); }

/* Output through stdio: with the syscall buffer, its calls go through the
 * library. */
long say(const char *text) {
  long n = printf("%s", text);
  fflush(stdout);
  return n;
}

/* Kept out of line, and its argument kept, so that gdb stops here with
 * `buf` in scope. */
__attribute__((noinline)) void marker(const char *buf) {
  __asm__ volatile("" : : "r"(buf) : "memory");
}

int main(void) {
  unsigned int r = 0;
  getrandom(&r, sizeof r, 0);
  char buf[64];
  snprintf(buf, sizeof buf, "value-%u", r % 1000000);
  /* stdout is set up (and, with the syscall buffer, libc's call sites
   * patched) before gdb's calls. */
  say("start\n");
  marker(buf);
  bump();
  printf("%s counter=%ld len=%zu\n", buf, (long)counter, strlen(buf));
  return 0;
}
