// Threads created and joined while two signals keep arriving: a 250 µs
// interval timer and another thread sending SIGUSR1 every 100 µs. The
// handlers (no syscalls) nest into each other; under a recorder whose
// every delivery costs more than the timer's period the program made no
// progress at all. Prints the pid and the delivery counts.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define THREADS 96

static atomic_int timer_hits, kill_hits, stop;

static void on_signal(int sig) {
    if (sig == SIGALRM)
        atomic_fetch_add(&timer_hits, 1);
    else
        atomic_fetch_add(&kill_hits, 1);
}

static void *sender(void *unused) {
    (void)unused;
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    struct timespec gap = {0, 100000};
    while (!atomic_load(&stop)) {
        kill(getpid(), SIGUSR1);
        nanosleep(&gap, NULL);
    }
    return NULL;
}

static void *work(void *arg) {
    long n = (long)arg;
    return (void *)(n * 7 + 3);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    pthread_t killer;
    pthread_create(&killer, NULL, sender, NULL);
    struct itimerval every = {{0, 250}, {0, 250}};
    setitimer(ITIMER_REAL, &every, NULL);
    for (long base = 0; base < THREADS; base += 4) {
        pthread_t t[4];
        for (int i = 0; i < 4; i++) {
            if (pthread_create(&t[i], NULL, work, (void *)(base + i)) != 0) {
                printf("pthread_create failed\n");
                return 1;
            }
        }
        for (int i = 0; i < 4; i++) {
            void *ret;
            if (pthread_join(t[i], &ret) != 0 || (long)ret != (base + i) * 7 + 3) {
                printf("thread %ld returned the wrong value\n", base + i);
                return 1;
            }
        }
    }
    struct itimerval off = {{0, 0}, {0, 0}};
    setitimer(ITIMER_REAL, &off, NULL);
    atomic_store(&stop, 1);
    pthread_join(killer, NULL);
    printf("pid %d: %d threads joined, %d timer and %d kill deliveries\n", getpid(), THREADS,
           atomic_load(&timer_hits), atomic_load(&kill_hits));
    return atomic_load(&timer_hits) > 0 && atomic_load(&kill_hits) > 0 ? 0 : 1;
}
