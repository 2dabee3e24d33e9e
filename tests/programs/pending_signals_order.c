/* Several signals pending at once and unblocked by one sigprocmask: the
 * kernel sets up a frame for each before returning to user space, lowest
 * number first, so the handlers run highest first, each nested in the
 * next. A handler whose sa_mask blocks another signal defers it until it
 * returns, and queued real-time signals come one per handler unless
 * SA_NODEFER. The recording must run them in the native order. */
#include "family.h"
#include <signal.h>
#include <unistd.h>

static volatile int order[16], count;

static void note(int sig) { order[count++] = sig; }

static void handle(int sig, const int *mask_also) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = note;
  sigemptyset(&sa.sa_mask);
  for (; mask_also && *mask_also; mask_also++)
    sigaddset(&sa.sa_mask, *mask_also);
  CHECK(sigaction(sig, &sa, NULL) == 0);
}

/* Raises `sigs` while all are blocked, unblocks them at once, and checks
 * that the handlers ran in `expected` order. */
static void round_of(const char *name, const int *sigs, int n,
                     const int *expected, int n_expected) {
  sigset_t set;
  sigemptyset(&set);
  for (int i = 0; i < n; i++)
    sigaddset(&set, sigs[i]);
  CHECK(sigprocmask(SIG_BLOCK, &set, NULL) == 0);
  for (int i = 0; i < n; i++) {
    union sigval value = {.sival_int = i};
    CHECK(sigqueue(getpid(), sigs[i], value) == 0);
  }
  count = 0;
  CHECK(sigprocmask(SIG_UNBLOCK, &set, NULL) == 0);
  printf("%s:", name);
  for (int i = 0; i < count; i++)
    printf(" %d", order[i]);
  printf("\n");
  CHECK(count == n_expected);
  for (int i = 0; i < n_expected; i++)
    CHECK(order[i] == expected[i]);
}

int main(void) {
  printf("nonce %llx\n", random_value());
  int rt = SIGRTMIN, rt1 = SIGRTMIN + 1;

  handle(SIGUSR1, NULL);
  handle(SIGUSR2, NULL);
  handle(SIGTERM, NULL);
  handle(rt, NULL);
  int four[] = {SIGTERM, SIGUSR1, rt, SIGUSR2};
  int nested[] = {rt, SIGTERM, SIGUSR2, SIGUSR1};
  round_of("four at once", four, 4, nested, 4);

  int usr2_only[] = {SIGUSR2, 0};
  handle(SIGUSR1, usr2_only);
  int deferred[] = {rt, SIGTERM, SIGUSR1, SIGUSR2};
  round_of("one deferred by sa_mask", four, 4, deferred, 4);

  handle(rt1, NULL);
  int twice[] = {rt1, rt1, SIGUSR2};
  int one_per_handler[] = {rt1, rt1, SIGUSR2};
  round_of("queued twice", twice, 3, one_per_handler, 3);
  return 0;
}
