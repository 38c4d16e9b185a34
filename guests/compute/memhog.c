/*
 * memhog: fills N MiB of linear memory with pseudo-random bytes, then waits on stdin,
 * so a host can checkpoint a guest with a large, incompressible memory while it is
 * blocked inside fd_read (the checkpoint and restore benchmarks use 16 and 256 MiB).
 *
 *   usage: memhog [MIB]        (default 16)
 *
 *   at start       -> "memhog ready mib=N sample=HEX16"
 *   each line      -> every page gets one byte changed from the line's hash, then
 *                     "memhog lines=K sample=HEX16" (a hash of one byte per page)
 *   end of input   -> "memhog bye lines=K", exit 0
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE 4096

static uint64_t xorshift64(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* FNV-1a over one byte of every page: cheap, yet it reads the whole region. */
static uint64_t sample(const uint8_t *mem, size_t size) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; i += PAGE) {
    h ^= mem[i + (i / PAGE) % PAGE];
    h *= 0x100000001b3ull;
  }
  return h;
}

int main(int argc, char **argv) {
  long mib = 16;
  if (argc > 1) {
    char *end;
    mib = strtol(argv[1], &end, 10);
    if (*end != '\0' || mib <= 0 || mib > 3072) {
      fprintf(stderr, "memhog: MIB must be a number from 1 to 3072\n");
      return 2;
    }
  }
  size_t size = (size_t)mib << 20;
  uint8_t *mem = malloc(size);
  if (mem == NULL) {
    fprintf(stderr, "memhog: cannot allocate %ld MiB\n", mib);
    return 71;
  }
  uint64_t seed = 0x2545f4914f6cdd1dull;
  for (size_t i = 0; i < size; i += 8) {
    uint64_t v = xorshift64(&seed);
    memcpy(mem + i, &v, 8);
  }
  printf("memhog ready mib=%ld sample=%016" PRIx64 "\n", mib, sample(mem, size));
  fflush(stdout);

  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  long lines = 0;
  while ((len = getline(&line, &cap, stdin)) >= 0) {
    lines++;
    uint64_t h = 0xcbf29ce484222325ull;
    for (ssize_t i = 0; i < len; i++) h = (h ^ (uint8_t)line[i]) * 0x100000001b3ull;
    h = (h ^ (uint64_t)lines) * 0x9e3779b97f4a7c15ull;
    for (size_t i = 0; i < size; i += PAGE) mem[i + (i / PAGE) % PAGE] ^= (uint8_t)(h >> ((i / PAGE) % 8 * 8));
    printf("memhog lines=%ld sample=%016" PRIx64 "\n", lines, sample(mem, size));
    fflush(stdout);
  }
  printf("memhog bye lines=%ld\n", lines);
  return 0;
}
