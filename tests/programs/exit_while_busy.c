/* Threads that make syscalls or spin while the main thread calls exit():
 * exit_group kills them while their stops wait in the recorder's queue.
 * The count of syscalls made before exit depends on scheduling. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_long calls;

static void *calling(void *arg) {
    (void)arg;
    for (;;) {
        syscall(SYS_getppid);
        atomic_fetch_add(&calls, 1);
    }
    return NULL;
}

static void *spinning(void *arg) {
    (void)arg;
    for (volatile long x = 0;; x++) {
    }
    return NULL;
}

int main(void) {
    pthread_t t;
    for (int i = 0; i < 6; i++)
        pthread_create(&t, NULL, i % 2 ? calling : spinning, NULL);
    usleep(20000);
    printf("calls=%ld\n", atomic_load(&calls));
    fflush(stdout);
    exit(3);
}
