/* A thread spins in user code on a word of a file it maps shared, until
 * the file is written through a descriptor: first by another thread,
 * then by a forked child. The kernel's copy into the file is the write
 * the spinner sees. Prints the words and how long it spun. */
#include "family.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

static int fd;
static unsigned values[2];

static void *write_first(void *arg) {
    (void)arg;
    usleep(1000);
    if (pwrite(fd, &values[0], sizeof values[0], 0) != sizeof values[0])
        abort();
    return NULL;
}

int main(void) {
    char path[] = "/tmp/spin-on-shared-XXXXXX";
    fd = mkstemp(path);
    if (fd < 0 || unlink(path) || ftruncate(fd, 4096))
        return 1;
    volatile unsigned *map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED || getrandom(values, sizeof values, 0) != sizeof values)
        return 1;
    values[0] |= 1;
    values[1] |= 1;

    pthread_t writer;
    pthread_create(&writer, NULL, write_first, NULL);
    long spins = spin_until_set(&map[0]);
    pthread_join(writer, NULL);
    printf("thread wrote %u, seen after %ld spins\n", map[0], spins);

    pid_t child = fork();
    if (child == 0) {
        usleep(1000);
        _exit(pwrite(fd, &values[1], sizeof values[1], 64) == sizeof values[1] ? 0 : 1);
    }
    spins = spin_until_set(&map[16]);
    int status = 0;
    waitpid(child, &status, 0);
    printf("child wrote %u, seen after %ld spins, status %d\n", map[16], spins, status);
    return map[0] == values[0] && map[16] == values[1] ? 0 : 2;
}
