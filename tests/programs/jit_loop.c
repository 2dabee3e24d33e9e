/* A thread generates its hot loop at run time, as a JIT does, and rewrites
 * it between runs without a syscall in between, while another thread wants
 * the CPU. Preemptions land inside code that did not exist, or was other
 * code, when the stretch before them began. */
#include "family.h"
#include <pthread.h>
#include <sys/mman.h>

enum { ROUNDS = 24, SLOTS = 3, SLOT_SIZE = 96 };

static volatile int stop;

/* mov ecx, COUNT; xor eax, eax; loop: add rax, STEP; dec rcx; jnz loop; ret */
static const unsigned char loop_template[] = {
    0xb9, 0, 0, 0, 0,             /* mov ecx, imm32 */
    0x31, 0xc0,                   /* xor eax, eax */
    0x48, 0x05, 0, 0, 0, 0,       /* add rax, imm32 */
    0x48, 0xff, 0xc9,             /* dec rcx */
    0x75, 0xf5,                   /* jnz add */
    0xc3,                         /* ret */
};

static void emit(unsigned char *at, uint32_t count, uint32_t step) {
  unsigned char code[sizeof loop_template];
  memcpy(code, loop_template, sizeof code);
  memcpy(code + 1, &count, 4);
  memcpy(code + 9, &step, 4);
  memcpy(at, code, sizeof code);
}

static void *jit(void *arg) {
  unsigned char *region = arg;
  unsigned long total = 0;
  for (int round = 0; round < ROUNDS; round++) {
    unsigned char *at = region + (round % SLOTS) * SLOT_SIZE;
    emit(at, 30000000 + round, 7 + round);
    unsigned long (*run)(void) = (unsigned long (*)(void))at;
    total += run();
  }
  stop = 1;
  return (void *)total;
}

static void *other(void *arg) {
  (void)arg;
  unsigned long sum = 0;
  while (!stop) sum += random_value() & 1;
  return (void *)sum;
}

int main(void) {
  unsigned char *region = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(region != MAP_FAILED);
  pthread_t a, b;
  void *total, *bits;
  CHECK(pthread_create(&b, NULL, other, NULL) == 0);
  CHECK(pthread_create(&a, NULL, jit, region) == 0);
  CHECK(pthread_join(a, &total) == 0 && pthread_join(b, &bits) == 0);
  unsigned long expected = 0;
  for (int round = 0; round < ROUNDS; round++)
    expected += (30000000UL + round) * (7 + round);
  CHECK((unsigned long)total == expected);
  printf("generated loops summed %lu, random bits %lu\n", (unsigned long)total,
         (unsigned long)bits % 1000);
  return 0;
}
