/* Prints everything a program can see of its environment: each entry of
 * `environ`, whether /proc/self/environ says the same, and (built static,
 * where the startup code finds the auxiliary vector right after the
 * environment's terminator) whether that vector is where it should be.
 * Then it runs itself three ways: inheriting its environment, with one of
 * its own that has an LD_PRELOAD, and with none. A recorded run must print
 * exactly what a native one prints, bar the "nonce" line. On stderr it
 * says whether the syscall buffer's library is mapped, which the test
 * reads to know the children got it back. */
#include "family.h"
#include <elf.h>
#include <sys/auxv.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void show(const char *who, char **envp) {
  int count = 0;
  for (char **e = environ; *e; e++, count++)
    printf("%s env[%d] %s\n", who, count, *e);
  CHECK(envp == environ);

  static char proc[1 << 20];
  FILE *f = fopen("/proc/self/environ", "r");
  CHECK(f != NULL);
  size_t len = fread(proc, 1, sizeof proc, f);
  fclose(f);
  int proc_count = 0, same = 1;
  for (size_t at = 0; at < len; at += strlen(proc + at) + 1, proc_count++)
    if (proc_count >= count || strcmp(proc + at, environ[proc_count]) != 0)
      same = 0;
  printf("%s /proc/self/environ: %d entries, %s\n", who, proc_count,
         same && proc_count == count ? "the same" : "DIFFERENT");

#ifdef STATIC_BUILD
  char **after = envp + count + 1;
  Elf64_auxv_t *auxv = (Elf64_auxv_t *)after;
  unsigned long pagesz = 0;
  for (; auxv->a_type != AT_NULL; auxv++)
    if (auxv->a_type == AT_PAGESZ)
      pagesz = auxv->a_un.a_val;
  printf("%s auxv after the environment: AT_PAGESZ %s\n", who,
         pagesz == getauxval(AT_PAGESZ) ? "found" : "MISSING");
#endif

  int mapped = 0;
  char line[512];
  f = fopen("/proc/self/maps", "r");
  CHECK(f != NULL);
  while (fgets(line, sizeof line, f))
    if (strstr(line, "libreplay_preload"))
      mapped = 1;
  fclose(f);
  fprintf(stderr, "%s library mapped: %s\n", who, mapped ? "yes" : "no");
  fflush(stdout);
}

static void run_child(char *self, const char *how, char **envp) {
  pid_t pid = fork();
  CHECK(pid >= 0);
  if (pid == 0) {
    char *argv[] = {self, (char *)how, NULL};
    execve(self, argv, envp);
    _exit(127);
  }
  int status;
  CHECK(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

int main(int argc, char **argv, char **envp) {
  const char *who = argc > 1 ? argv[1] : "parent";
  show(who, envp);
  if (argc > 1)
    return 0;
  printf("nonce %llx\n", random_value());
  fflush(stdout);
  run_child(argv[0], "inheriting", environ);
  char *own[] = {"ONLY=1", "LD_PRELOAD=libm.so.6", "LAST=2", NULL};
  run_child(argv[0], "own-preload", own);
  run_child(argv[0], "no-environment", NULL);
  return 0;
}
