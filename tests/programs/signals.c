/* A handled SIGSEGV recovered with siglongjmp, then abort(): death by SIGABRT. */
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static sigjmp_buf env;
static void on_segv(int sig, siginfo_t *info, void *ctx) {
    (void)ctx;
    printf("caught signal %d at %p\n", sig, info->si_addr);
    siglongjmp(env, 1);
}
int main(int argc, char **argv) {
    struct sigaction sa = {0};
    sa.sa_sigaction = on_segv;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGSEGV, &sa, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    volatile int *bad = (int *)(0x1000 + (ts.tv_nsec % 16) * 8);
    if (sigsetjmp(env, 1) == 0) {
        *bad = 1;
        printf("not reached\n");
    }
    printf("recovered, time=%ld.%09ld\n", (long)ts.tv_sec, ts.tv_nsec);
    fflush(stdout);
    if (argc > 1) abort();
    return 0;
}
