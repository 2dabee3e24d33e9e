/* 150 short-lived threads finishing in a time-dependent order, a robust mutex
 * whose owner dies, a detached thread, and exit_group while a thread blocks. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define N 150
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int order[N], done;
static pthread_mutex_t robust;

static void *worker(void *arg) {
    long id = (long)arg;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    struct timespec d = {0, (ts.tv_nsec % 200) * 1000};
    nanosleep(&d, 0);
    pthread_mutex_lock(&lock);
    order[done++] = (int)id;
    pthread_mutex_unlock(&lock);
    return 0;
}
static void *dies_holding(void *arg) {
    (void)arg;
    pthread_mutex_lock(&robust);
    return 0; /* exits without unlocking */
}
static void *blocks_forever(void *arg) {
    int *fds = arg;
    char c;
    read(fds[0], &c, 1);
    return 0;
}
static void *detached(void *arg) { (void)arg; return 0; }

int main(void) {
    pthread_t t[N];
    for (long i = 0; i < N; i++) pthread_create(&t[i], 0, worker, (void *)i);
    for (int i = 0; i < N; i++) pthread_join(t[i], 0);
    unsigned long hash = 5381;
    for (int i = 0; i < N; i++) hash = hash * 33 + (unsigned long)order[i];

    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_init(&robust, &a);
    pthread_t owner;
    pthread_create(&owner, 0, dies_holding, 0);
    pthread_join(owner, 0);
    int r = pthread_mutex_lock(&robust);

    pthread_attr_t da;
    pthread_attr_init(&da);
    pthread_attr_setdetachstate(&da, PTHREAD_CREATE_DETACHED);
    pthread_t d;
    pthread_create(&d, &da, detached, 0);

    static int fds[2];
    pipe(fds);
    pthread_t blocker;
    pthread_create(&blocker, 0, blocks_forever, fds);
    printf("threads=%d order_hash=%lu first=%d last=%d robust=%s\n", done, hash, order[0], order[N - 1],
           r == EOWNERDEAD ? "EOWNERDEAD" : strerror(r));
    fflush(stdout);
    return 0; /* exit_group while `blocker` waits in read */
}
