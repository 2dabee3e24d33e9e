/* A program that turns address-space randomization back on for itself
 * (personality) and execs: the new image is laid out at random, which
 * replay cannot reproduce, so the recorder must refuse it at the exec
 * instead of writing a trace that fails to replay. */
#include "family.h"
#include <sys/personality.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc > 1) {
    printf("exec'd at a random place: %p\n", (void *)&argc);
    return 0;
  }
  int current = personality(0xffffffff);
  CHECK(current != -1);
  CHECK(personality(current & ~ADDR_NO_RANDOMIZE) != -1);
  execl("/proc/self/exe", argv[0], "again", (char *)NULL);
  CHECK(!"exec");
}
