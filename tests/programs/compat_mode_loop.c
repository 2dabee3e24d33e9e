/* A 64-bit process switches into 32-bit compatibility mode (a far return
 * to code segment 0x23, code on a page below 4 GiB), runs a loop there
 * without syscalls, and comes back (a far return to 0x33). Meanwhile a
 * 1 ms interval timer interrupts it and a second thread spins, so the
 * recorder must deliver signals and switch threads while the first one
 * runs 32-bit code, which its walk and replay's probe must not take for
 * 64-bit code. The loop's result is checked against the same one in C. */
#include "family.h"
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/time.h>

extern char k32_begin[], k32_code[], k32_end[];
/* Called as begin(page, data, stack): saves the 64-bit stack pointer in
 * data[0..1], far-returns into the 32-bit loop (data[2] rounds of an LCG
 * on data[3], result in data[4]), which far-returns back. */
__asm__(".text\n.globl k32_begin, k32_code, k32_end\nk32_begin:\n.code64\n"
        "  push %rbx; push %rbp; push %r12; push %r13; push %r14; push %r15\n"
        "  mov %rsp, (%rsi)\n  mov $0x2b, %eax; mov %eax, %ds; mov %eax, %es\n"
        "  mov %edx, %esp\n"
        "  lea (k32_code - k32_begin)(%rdi), %rax\n  pushq $0x23\n  push %rax\n  lretq\n"
        "k32_code:\n.code32\n  mov %esi, %ebx\n  mov 8(%ebx), %ecx\n  mov 12(%ebx), %eax\n"
        "1: imul $1103515245, %eax, %eax\n  add $12345, %eax\n  dec %ecx\n  jnz 1b\n"
        "  mov %eax, 16(%ebx)\n"
        "  lea (k64_back - k32_begin)(%edi), %eax\n  push $0x33\n  push %eax\n  lret\n"
        "k64_back:\n.code64\n  mov %esi, %esi\n  mov (%rsi), %rsp\n"
        "  xor %eax, %eax; mov %eax, %ds; mov %eax, %es\n"
        "  pop %r15; pop %r14; pop %r13; pop %r12; pop %rbp; pop %rbx\n  ret\nk32_end:\n");

static volatile int stop, alarms;
static void on_alarm(int sig) {
  (void)sig;
  alarms++;
}
static void *spin(void *arg) {
  (void)arg;
  while (!stop)
    ;
  return NULL;
}

int main(void) {
  const int rounds = 30000000;
  uint32_t seed = (uint32_t)random_value();
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT;
  char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, flags, -1, 0);
  uint32_t *data = mmap(NULL, 4096, PROT_READ | PROT_WRITE, flags, -1, 0);
  char *stack = mmap(NULL, 65536, PROT_READ | PROT_WRITE, flags, -1, 0);
  CHECK(page != MAP_FAILED && data != MAP_FAILED && stack != MAP_FAILED);
  memcpy(page, k32_begin, (size_t)(k32_end - k32_begin));
  data[2] = rounds;
  data[3] = seed;
  CHECK(signal(SIGALRM, on_alarm) != SIG_ERR);
  struct itimerval every_ms = {{0, 1000}, {0, 1000}}, off = {{0, 0}, {0, 0}};
  CHECK(setitimer(ITIMER_REAL, &every_ms, NULL) == 0);
  pthread_t spinner;
  CHECK(pthread_create(&spinner, NULL, spin, NULL) == 0);
  ((void (*)(uintptr_t, uintptr_t, uintptr_t))page)((uintptr_t)page, (uintptr_t)data,
                                                    (uintptr_t)stack + 65536 - 64);
  CHECK(setitimer(ITIMER_REAL, &off, NULL) == 0);
  stop = 1;
  CHECK(pthread_join(spinner, NULL) == 0);
  uint32_t expected = seed;
  for (int i = 0; i < rounds; i++)
    expected = expected * 1103515245u + 12345u;
  printf("seed %08x: the 32-bit loop gave %08x, C gives %08x\n", seed, data[4], expected);
  CHECK(data[4] == expected);
  return 0;
}
