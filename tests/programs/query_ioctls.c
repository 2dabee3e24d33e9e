/* Queries whose answers the kernel writes through a pointer the request
 * number alone does not make obvious: sysfs(2) copies a file system's
 * name (of no stated length), NS_GET_OWNER_UID is an _IO request that
 * still writes a uid_t, and PAGEMAP_SCAN writes back its argument struct
 * and an array of page regions (kernels from 6.7; older ones say ENOTTY
 * or EINVAL, which is printed). */
#include "family.h"
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct page_region {
  unsigned long long start, end, categories;
};

struct pm_scan_arg {
  unsigned long long size, flags, start, end, walk_end, vec, vec_len, max_pages;
  unsigned long long category_inverted, category_mask, category_anyof_mask, return_mask;
};

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  char name[64];
  memset(name, 'x', sizeof name);
  if (syscall(SYS_sysfs, 2, 0, name) == 0)
    printf("first file system type: %s\n", name);
  else /* a kernel built without CONFIG_SYSFS_SYSCALL */
    printf("no sysfs(2) here: %s\n", strerror(errno));

  int user_ns = open("/proc/self/ns/user", O_RDONLY);
  CHECK(user_ns >= 0);
  unsigned owner = 12345;
  CHECK(ioctl(user_ns, 0xB704 /* NS_GET_OWNER_UID */, &owner) == 0);
  printf("owner of our user namespace: %u\n", owner);

  int pages = 8;
  char *area = mmap(NULL, pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(area != MAP_FAILED);
  int touched = (int)(random_value() % pages);
  for (int i = 0; i <= touched; i += 2)
    area[i * 4096] = 1;
  int pagemap = open("/proc/self/pagemap", O_RDONLY);
  CHECK(pagemap >= 0);
  struct page_region regions[8];
  struct pm_scan_arg scan = {0};
  scan.size = sizeof scan;
  scan.start = (unsigned long long)area;
  scan.end = scan.start + pages * 4096ULL;
  scan.vec = (unsigned long long)regions;
  scan.vec_len = 8;
  scan.category_mask = scan.return_mask = 1 << 1; /* PAGE_IS_PRESENT */
  long found = ioctl(pagemap, 0xC0606610 /* PAGEMAP_SCAN */, &scan);
  if (found < 0) {
    printf("no PAGEMAP_SCAN here: %s\n", strerror(errno));
    return 0;
  }
  CHECK(scan.walk_end == scan.end);
  for (long i = 0; i < found; i++)
    printf("present: pages %llu to %llu\n", (regions[i].start - scan.start) / 4096,
           (regions[i].end - scan.start) / 4096);
  printf("touched up to page %d\n", touched);
  return 0;
}
