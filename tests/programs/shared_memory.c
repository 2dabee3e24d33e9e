/* Memory shared between the processes of a recording: a MAP_SHARED file
 * mapping and a POSIX shared-memory object written by parent and child in
 * turn, a process-shared semaphore in it, a SysV segment attached in
 * both, a write() seen through a mapping, SIGBUS past the file's end, and a
 * shared mapping grown with ftruncate and mremap. */
#include "family.h"
#include <fcntl.h>
#include <semaphore.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

static sigjmp_buf past_end;

static void on_sigbus(int sig) {
  (void)sig;
  siglongjmp(past_end, 1);
}

struct shared {
  sem_t parent_turn, child_turn;
  unsigned long long values[64];
};

static int temp_file(size_t size) {
  char path[] = "/tmp/replay-shared-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  CHECK(unlink(path) == 0);
  CHECK(ftruncate(fd, size) == 0);
  return fd;
}

/* Parent and child take turns, each adding to what the other wrote. */
static unsigned long long ping_pong(struct shared *s) {
  /* The child writes the odd entries, starting with the first. */
  CHECK(sem_init(&s->parent_turn, 1, 0) == 0);
  CHECK(sem_init(&s->child_turn, 1, 1) == 0);
  s->values[0] = random_value() % 1000;
  pid_t child = fork();
  CHECK(child >= 0);
  for (int i = 1; i < 64; i++) {
    int mine = (i % 2 == 0) == (child != 0);
    if (!mine) continue;
    CHECK(sem_wait(child ? &s->parent_turn : &s->child_turn) == 0);
    s->values[i] = s->values[i - 1] * 3 + i;
    CHECK(sem_post(child ? &s->child_turn : &s->parent_turn) == 0);
  }
  if (child == 0) _exit(0);
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status));
  return s->values[63];
}

int main(void) {
  int fd = temp_file(sizeof(struct shared));
  struct shared *file = mmap(NULL, sizeof *file, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  CHECK(file != MAP_FAILED);
  printf("file mapping: %llu\n", ping_pong(file));

  char name[64];
  snprintf(name, sizeof name, "/replay-family-%d", getpid());
  int shm = shm_open(name, O_RDWR | O_CREAT | O_EXCL, 0600);
  CHECK(shm >= 0);
  CHECK(shm_unlink(name) == 0);
  CHECK(ftruncate(shm, sizeof(struct shared)) == 0);
  struct shared *object = mmap(NULL, sizeof *object, PROT_READ | PROT_WRITE, MAP_SHARED, shm, 0);
  CHECK(object != MAP_FAILED);
  printf("shm object: %llu\n", ping_pong(object));

  int segment = shmget(IPC_PRIVATE, sizeof(struct shared), IPC_CREAT | 0600);
  CHECK(segment >= 0);
  struct shared *sysv = shmat(segment, NULL, 0);
  CHECK(sysv != (void *)-1);
  printf("sysv segment: %llu\n", ping_pong(sysv));
  CHECK(shmdt(sysv) == 0);
  CHECK(shmctl(segment, IPC_RMID, NULL) == 0);

  unsigned long long written = random_value();
  CHECK(pwrite(fd, &written, sizeof written, offsetof(struct shared, values[5])) ==
        sizeof written);
  CHECK(file->values[5] == written);
  printf("pwrite seen through the mapping: %llx\n", file->values[5]);

  int short_file = temp_file(4096);
  volatile char *two_pages = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, short_file, 0);
  CHECK(two_pages != MAP_FAILED);
  signal(SIGBUS, on_sigbus);
  int faulted = 0;
  if (sigsetjmp(past_end, 1) == 0)
    two_pages[4096] = 1;
  else
    faulted = 1;
  CHECK(faulted);
  CHECK(ftruncate(short_file, 2 * 4096) == 0);
  two_pages[4096] = 2;
  printf("SIGBUS past the end, then %d after ftruncate\n", two_pages[4096]);

  int grow = temp_file(4096);
  char *small = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, grow, 0);
  CHECK(small != MAP_FAILED);
  small[0] = 'a';
  CHECK(ftruncate(grow, 3 * 4096) == 0);
  char *big = mremap(small, 4096, 3 * 4096, MREMAP_MAYMOVE);
  CHECK(big != MAP_FAILED);
  big[2 * 4096] = (char)('b' + random_value() % 20);
  pid_t child = fork();
  if (child == 0) {
    big[4096] = big[2 * 4096] + 1;
    _exit(0);
  }
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status));
  printf("grown mapping: %c %c %c\n", big[0], big[4096], big[2 * 4096]);
  return 0;
}
