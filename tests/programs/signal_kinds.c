/* Signals of many kinds, each arriving at a time that differs per run:
 * sigaltstack + SA_ONSTACK, SA_RESTART vs EINTR, sigqueue payloads,
 * signalfd, pthread_kill, timer_create, alarm. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t on_altstack, usr1_count, alarm_count, timer_count, thread_hits;
static char altstack[65536];

static void on_usr1(int sig, siginfo_t *info, void *ctx) {
    (void)sig; (void)ctx;
    int local;
    on_altstack = (char *)&local >= altstack && (char *)&local < altstack + sizeof altstack;
    usr1_count += 1 + (info->si_code == SI_QUEUE ? info->si_value.sival_int : 0);
}
static void on_alarm(int sig) { (void)sig; alarm_count++; }
static void on_timer(int sig) { (void)sig; timer_count++; }
static void on_thread_signal(int sig) { (void)sig; thread_hits++; }

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void *sleeper(void *arg) {
    (void)arg;
    struct timespec t = {0, 50000000};
    while (nanosleep(&t, &t) == -1 && errno == EINTR) {}
    return 0;
}

int main(void) {
    long start = now_ns();
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, 0);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_usr1;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGUSR1, &sa, 0);
    raise(SIGUSR1);
    union sigval v = {.sival_int = (int)(now_ns() % 1000)};
    sigqueue(getpid(), SIGUSR1, v);

    /* SA_RESTART: a read on a pipe survives alarm(); without it, EINTR. */
    int p[2];
    pipe(p);
    struct sigaction al = {0};
    al.sa_handler = on_alarm;
    al.sa_flags = 0;
    sigaction(SIGALRM, &al, 0);
    struct itimerval it = {{0, 0}, {0, 20000}};
    setitimer(ITIMER_REAL, &it, 0);
    char c;
    ssize_t r = read(p[0], &c, 1);
    int eintr = r == -1 && errno == EINTR;

    /* A realtime signal with payload, read through signalfd. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGRTMIN + 1);
    sigprocmask(SIG_BLOCK, &mask, 0);
    int sfd = signalfd(-1, &mask, 0);
    union sigval v2 = {.sival_int = (int)(now_ns() % 977)};
    sigqueue(getpid(), SIGRTMIN + 1, v2);
    struct signalfd_siginfo fdsi;
    read(sfd, &fdsi, sizeof fdsi);

    /* timer_create delivering SIGUSR2, waited for with sigsuspend. */
    signal(SIGUSR2, on_timer);
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR2);
    sigprocmask(SIG_BLOCK, &block, &old);
    struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR2};
    timer_t timer;
    timer_create(CLOCK_MONOTONIC, &sev, &timer);
    struct itimerspec its = {{0, 0}, {0, 5000000 + now_ns() % 1000000}};
    timer_settime(timer, 0, &its, 0);
    while (!timer_count) sigsuspend(&old);
    sigprocmask(SIG_SETMASK, &old, 0);

    /* pthread_kill interrupting a thread's nanosleep. */
    signal(SIGWINCH, on_thread_signal);
    pthread_t th;
    pthread_create(&th, 0, sleeper, 0);
    struct timespec small = {0, 2000000};
    nanosleep(&small, 0);
    pthread_kill(th, SIGWINCH);
    pthread_join(th, 0);

    /* alarm() while blocked in pause(). */
    alarm(1);
    while (alarm_count < 2) pause();

    printf("usr1=%d altstack=%d eintr=%d alarms=%d rt_value=%d timer=%d thread_hits=%d elapsed=%ld\n",
           (int)usr1_count, (int)on_altstack, eintr, (int)alarm_count, fdsi.ssi_int, (int)timer_count,
           (int)thread_hits, now_ns() - start);
    return 0;
}
