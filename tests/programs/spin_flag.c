// A thread spins reading a flag that the main thread sets after a short
// sleep: every pass of the loop is the same state, so the recorder preempts
// it there for the main thread to run.
#include <pthread.h>
#include <stdio.h>
#include <time.h>

volatile int flag;

void *spin(void *arg) {
    (void)arg;
    while (!flag)
        ;
    return NULL;
}

int main(void) {
    pthread_t t;
    pthread_create(&t, NULL, spin, NULL);
    struct timespec pause = {0, 5 * 1000 * 1000};
    nanosleep(&pause, NULL);
    flag = 1;
    pthread_join(t, NULL);
    printf("flag seen\n");
    return 0;
}
