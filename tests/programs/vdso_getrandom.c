/* A program that finds the vDSO's getrandom itself (as glibc 2.41 does):
 * it asks the function for its state parameters, maps the state as told,
 * and draws random bytes through it from two threads. The recorder's
 * vDSO patch must answer the query as the kernel's does. */
#include "family.h"
#include <elf.h>
#include <link.h>
#include <pthread.h>
#include <sys/auxv.h>
#include <sys/mman.h>

typedef ssize_t (*vgetrandom_fn)(void *, size_t, unsigned, void *, size_t);
struct params {
  uint32_t size_of_opaque_state, mmap_prot, mmap_flags, reserved[13];
};

static vgetrandom_fn vgetrandom;
static struct params params;
static char *states;
static unsigned long long drawn[2];

static void *find_in_vdso(const char *wanted) {
  ElfW(Ehdr) *ehdr = (void *)getauxval(AT_SYSINFO_EHDR);
  if (!ehdr)
    return NULL;
  char *image = (char *)ehdr;
  ElfW(Phdr) *phdr = (void *)(image + ehdr->e_phoff);
  uintptr_t bias = 0;
  for (int i = 0; i < ehdr->e_phnum; i++)
    if (phdr[i].p_type == PT_LOAD) {
      bias = (uintptr_t)image + phdr[i].p_offset - phdr[i].p_vaddr;
      break;
    }
  ElfW(Shdr) *shdr = (void *)(image + ehdr->e_shoff);
  for (int i = 0; i < ehdr->e_shnum; i++) {
    if (shdr[i].sh_type != SHT_DYNSYM)
      continue;
    ElfW(Sym) *symbols = (void *)(image + shdr[i].sh_offset);
    const char *names = image + shdr[shdr[i].sh_link].sh_offset;
    for (size_t s = 0; s < shdr[i].sh_size / sizeof *symbols; s++)
      if (symbols[s].st_value && strcmp(names + symbols[s].st_name, wanted) == 0)
        return (void *)(bias + symbols[s].st_value);
  }
  return NULL;
}

static void *draw(void *which) {
  long i = (long)which;
  unsigned long long value = 0;
  for (int round = 0; round < 100; round++) {
    unsigned long long part;
    CHECK(vgetrandom(&part, sizeof part, 0, states + i * params.size_of_opaque_state,
                     params.size_of_opaque_state) == sizeof part);
    value ^= part;
  }
  drawn[i] = value;
  return NULL;
}

int main(void) {
  vgetrandom = (vgetrandom_fn)find_in_vdso("__vdso_getrandom");
  if (!vgetrandom) {
    printf("no vDSO getrandom on this kernel: %llx\n", random_value());
    return 0;
  }
  CHECK(vgetrandom(NULL, 0, 0, &params, ~0UL) == 0);
  CHECK(params.size_of_opaque_state > 0 && params.size_of_opaque_state <= 2048);
  CHECK(params.mmap_prot == (PROT_READ | PROT_WRITE));
  states = mmap(NULL, 4096, params.mmap_prot, params.mmap_flags, -1, 0);
  CHECK(states != MAP_FAILED);
  unsigned char few[16];
  /* A wrong state length: the kernel's function makes the syscall. */
  CHECK(vgetrandom(few, sizeof few, 0, states, params.size_of_opaque_state - 1) == sizeof few);
  pthread_t threads[2];
  for (long i = 0; i < 2; i++)
    CHECK(pthread_create(&threads[i], NULL, draw, (void *)i) == 0);
  for (int i = 0; i < 2; i++)
    CHECK(pthread_join(threads[i], NULL) == 0);
  CHECK(drawn[0] != drawn[1]);
  printf("vDSO getrandom state of %u bytes: %016llx %016llx\n", params.size_of_opaque_state,
         drawn[0], drawn[1]);
  return 0;
}
