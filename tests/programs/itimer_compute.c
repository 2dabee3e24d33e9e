// setitimer(ITIMER_REAL, 2 ms) interrupts a loop that makes no syscalls; the
// handler records how far the loop got each time. Where each signal lands
// depends on timing.
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#define TICKS 20

static volatile unsigned long progress;
static volatile int ticks;
static unsigned long seen[TICKS];

static void on_alarm(int sig) {
    (void)sig;
    if (ticks < TICKS)
        seen[ticks] = progress;
    ticks++;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval every = {{0, 2000}, {0, 2000}};
    setitimer(ITIMER_REAL, &every, NULL);
    while (ticks < TICKS)
        progress = progress * 6364136223846793005UL + 1442695040888963407UL;
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    for (int i = 0; i < TICKS; i++)
        printf("tick %d at %lu\n", i, seen[i]);
    return 0;
}
