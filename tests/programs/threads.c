#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static char order[64]; static int n;
static void *worker(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < 5; i++) {
        struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
        struct timespec d = {0, (ts.tv_nsec % 997) * 1000};
        nanosleep(&d, 0);
        pthread_mutex_lock(&m); order[n++] = '0' + id; pthread_mutex_unlock(&m);
    }
    return 0;
}
int main(void) {
    pthread_t t[4];
    for (long i = 0; i < 4; i++) pthread_create(&t[i], 0, worker, (void *)i);
    for (int i = 0; i < 4; i++) pthread_join(t[i], 0);
    printf("%s\n", order);
    return 0;
}
