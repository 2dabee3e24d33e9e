/* A non-main thread execs while the main thread and another thread are
 * blocked. The exec'd echo prints a time stamp taken just before. */
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
    execl("/bin/echo", "echo", "exec from a thread", stamp, (char *)0);
    return 0;
}
int main(void) {
    printf("main pid %d\n", getpid());
    fflush(stdout);
    pthread_t s, t;
    pthread_create(&s, 0, sleeper, 0);
    pthread_create(&t, 0, execer, 0);
    pause();
    return 1;
}
