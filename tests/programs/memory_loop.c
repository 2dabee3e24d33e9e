// Each of two threads counts to PASSES in a loop that keeps its counter in
// memory only: at the top of the loop every register and flag is the same
// on every pass, and only the counter's memory word tells the passes apart.
// The main thread samples both counters while the threads run, so the
// output depends on exactly where each thread was preempted; replay must
// find each recorded point on the right pass.
#include <pthread.h>
#include <stdio.h>

#define PASSES 20000000L

static volatile long counts[2];

static void *work(void *arg) {
    volatile long *count = arg;
    __asm__ volatile("1: incq (%0)\n\t"
                     "xorl %%eax, %%eax\n\t"
                     "cmpq %1, (%0)\n\t"
                     "jl 1b\n\t"
                     :
                     : "r"(count), "r"(PASSES)
                     : "rax", "cc", "memory");
    return NULL;
}

int main(void) {
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, work, (void *)&counts[i]);
    long seen[3];
    for (int s = 0; s < 3; s++) {
        for (volatile long spin = 0; spin < 3000000; spin = spin + 1) {
        }
        seen[s] = counts[0] + counts[1];
    }
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    printf("sampled %ld %ld %ld, counted %ld\n", seen[0], seen[1], seen[2], counts[0] + counts[1]);
    return 0;
}
