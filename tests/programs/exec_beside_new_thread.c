/* A thread starts several threads and execs at once, so the exec kills
 * threads that may never have run. The exec'd echo prints a time stamp. */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
static void *sleeper(void *arg) {
    (void)arg;
    for (;;)
        pause();
    return 0;
}
static void *execer(void *arg) {
    (void)arg;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char stamp[32];
    snprintf(stamp, sizeof stamp, "%ld", ts.tv_nsec);
    for (int i = 0; i < 6; i++) {
        pthread_t s;
        pthread_create(&s, 0, sleeper, 0);
    }
    execl("/bin/echo", "echo", "exec beside new threads", stamp, (char *)0);
    return 0;
}
int main(void) {
    pthread_t t;
    pthread_create(&t, 0, execer, 0);
    pause();
    return 1;
}
