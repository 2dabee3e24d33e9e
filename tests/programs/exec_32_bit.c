/* Writes a minimal 32-bit (i386) ELF program, which prints nothing and
 * exits 7 through int $0x80, and runs it. Replay does not support 32-bit
 * programs: the recording must stop with a message saying so. */
#include "family.h"
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  const unsigned char code[] = {0xb8, 1, 0, 0, 0,    /* mov eax, 1 (exit) */
                                0xbb, 7, 0, 0, 0,    /* mov ebx, 7 */
                                0xcd, 0x80};         /* int $0x80 */
  const Elf32_Addr base = 0x08048000;
  Elf32_Ehdr header = {0};
  memcpy(header.e_ident, ELFMAG, SELFMAG);
  header.e_ident[EI_CLASS] = ELFCLASS32;
  header.e_ident[EI_DATA] = ELFDATA2LSB;
  header.e_ident[EI_VERSION] = EV_CURRENT;
  header.e_type = ET_EXEC;
  header.e_machine = EM_386;
  header.e_version = EV_CURRENT;
  header.e_entry = base + sizeof(Elf32_Ehdr) + sizeof(Elf32_Phdr);
  header.e_phoff = sizeof(Elf32_Ehdr);
  header.e_ehsize = sizeof(Elf32_Ehdr);
  header.e_phentsize = sizeof(Elf32_Phdr);
  header.e_phnum = 1;
  Elf32_Phdr segment = {0};
  segment.p_type = PT_LOAD;
  segment.p_vaddr = segment.p_paddr = base;
  segment.p_filesz = segment.p_memsz = sizeof header + sizeof segment + sizeof code;
  segment.p_flags = PF_R | PF_X;
  segment.p_align = 4096;
  char path[64];
  snprintf(path, sizeof path, "/tmp/exec-32-bit-%llx", random_value());
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0700);
  CHECK(fd >= 0);
  CHECK(write(fd, &header, sizeof header) == sizeof header);
  CHECK(write(fd, &segment, sizeof segment) == sizeof segment);
  CHECK(write(fd, code, sizeof code) == sizeof code);
  CHECK(close(fd) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    execl(path, path, (char *)NULL);
    _exit(127);
  }
  int status;
  CHECK(waitpid(child, &status, 0) == child);
  unlink(path);
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 7);
  printf("the 32-bit program exited 7\n");
  return 0;
}
