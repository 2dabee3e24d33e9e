/* Restartable sequences: threads add to a per-CPU counter inside an rseq
 * critical section that loads the counter, spins, and stores it back. The
 * kernel aborts a section whose thread is preempted or moved, so no update
 * is ever lost. Under the recorder, which runs one thread at a time and
 * preempts them itself, the same must hold: it aborts a section where it
 * switches a thread out, and replay aborts it at the same point. */
#include "family.h"
#include <pthread.h>
#include <sched.h>
#include <sys/rseq.h>
#include <unistd.h>

#define THREADS 4
#define ADDS 4000
#define SPIN 2000

static long counters[CPU_SETSIZE];
static long aborts[THREADS];

static struct rseq *own_rseq(void) {
  return (struct rseq *)((char *)__builtin_thread_pointer() + __rseq_offset);
}

/* Adds one to counters[cpu] unless the section is aborted: 0 done, 1 aborted
 * or moved to another CPU. */
static int add_on(struct rseq *rs, int cpu) {
  long *counter = &counters[cpu];
  __asm__ goto(
      ".pushsection __rseq_cs, \"aw\"\n\t"
      ".balign 32\n\t"
      "3:\n\t"
      ".long 0, 0\n\t"
      ".quad 1f, (2f - 1f), 4f\n\t"
      ".popsection\n\t"
      "leaq 3b(%%rip), %%rax\n\t"
      "movq %%rax, %[cs]\n\t"
      "1:\n\t"
      "cmpl %[cpu], %[current]\n\t"
      "jnz %l[aborted]\n\t"
      "movq %[counter], %%rbx\n\t"
      "movl %[spin], %%ecx\n\t"
      "5:\n\t"
      "addq $0x10000, %%rax\n\t"
      "decl %%ecx\n\t"
      "jnz 5b\n\t"
      "incq %%rbx\n\t"
      "movq %%rbx, %[counter]\n\t"
      "2:\n\t"
      ".pushsection __rseq_failure, \"ax\"\n\t"
      ".long 0x53053053\n\t"
      "4:\n\t"
      "jmp %l[aborted]\n\t"
      ".popsection\n\t"
      :
      : [cpu] "r"(cpu), [current] "m"(rs->cpu_id), [cs] "m"(rs->rseq_cs),
        [counter] "m"(*counter), [spin] "i"(SPIN)
      : "memory", "cc", "rax", "rbx", "rcx"
      : aborted);
  return 0;
aborted:
  return 1;
}

static void *adder(void *arg) {
  long index = (long)arg;
  struct rseq *rs = own_rseq();
  for (int i = 0; i < ADDS; i++) {
    while (add_on(rs, (int)__atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED)))
      aborts[index]++;
  }
  return NULL;
}

int main(void) {
  CHECK(__rseq_size > 0);
  unsigned long long nonce = random_value();
  pthread_t threads[THREADS];
  for (long i = 0; i < THREADS; i++)
    CHECK(pthread_create(&threads[i], NULL, adder, (void *)i) == 0);
  for (int i = 0; i < THREADS; i++)
    CHECK(pthread_join(threads[i], NULL) == 0);
  long total = 0, aborted = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
    total += counters[cpu];
  for (int i = 0; i < THREADS; i++)
    aborted += aborts[i];
  printf("nonce %llx: %ld of %d additions counted, %ld sections aborted\n",
         nonce, total, THREADS * ADDS, aborted);
  CHECK(total == THREADS * ADDS);
  return 0;
}
