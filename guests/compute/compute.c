/*
 * compute: CPU-bound workloads for benchmarks, and loops of import calls for measuring
 * what recording costs per call. Results are deterministic except in the import modes.
 *
 *   usage: compute [MODE [N]]...      (no arguments: "all")
 *
 *   hash N     SHA-256 of N MiB of xorshift32 output  -> "hash n=N sha256=HEX"
 *   sort N     qsort N xorshift32 words (comparator called indirectly)
 *                                                      -> "sort n=N sorted=yes checksum=U32"
 *   interp N   a register bytecode VM, one indirect call per instruction, summing the
 *              Collatz step counts of 1..N            -> "interp n=N result=U64 insns=U64"
 *   calls N    recursive Fibonacci through a function pointer
 *                                                      -> "calls n=N result=U64 calls=U64"
 *   clock N    N clock_gettime calls (one WASI import each)
 *                                                      -> "clock n=N nondecreasing=yes"
 *   random N   N getentropy calls of 16 bytes (one WASI import each)
 *                                                      -> "random n=N distinct=yes"
 *   all        hash 4, sort 200000, interp 20000, calls 25, clock 10000, random 1000
 *
 * Several MODE N pairs may follow each other; each prints one line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint32_t xorshift32(uint32_t *s) {
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

/* ---- SHA-256 (FIPS 180-4) ---- */

struct sha256 {
  uint32_t h[8];
  uint8_t block[64];
  size_t used;
  uint64_t length;
};

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

static uint32_t ror(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(struct sha256 *s, const uint8_t *p) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5], g = s->h[6],
           h = s->h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
    uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    h = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
  }
  s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d;
  s->h[4] += e, s->h[5] += f, s->h[6] += g, s->h[7] += h;
}

static void sha256_init(struct sha256 *s) {
  static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(s->h, iv, sizeof iv);
  s->used = 0;
  s->length = 0;
}

static void sha256_update(struct sha256 *s, const uint8_t *p, size_t n) {
  s->length += n;
  while (n > 0) {
    size_t take = 64 - s->used < n ? 64 - s->used : n;
    memcpy(s->block + s->used, p, take);
    s->used += take, p += take, n -= take;
    if (s->used == 64) {
      sha256_block(s, s->block);
      s->used = 0;
    }
  }
}

static void sha256_final(struct sha256 *s, char hex[65]) {
  uint64_t bits = s->length * 8;
  uint8_t pad = 0x80;
  sha256_update(s, &pad, 1);
  pad = 0;
  while (s->used != 56) sha256_update(s, &pad, 1);
  uint8_t len[8];
  for (int i = 0; i < 8; i++) len[i] = (uint8_t)(bits >> (56 - 8 * i));
  sha256_update(s, len, 8);
  for (int i = 0; i < 8; i++) snprintf(hex + 8 * i, 9, "%08" PRIx32, s->h[i]);
}

static void run_hash(long mib) {
  static uint32_t chunk[16384]; /* 64 KiB */
  uint32_t seed = 0x9e3779b9u;
  struct sha256 s;
  sha256_init(&s);
  for (long i = 0; i < mib * 16; i++) {
    for (size_t j = 0; j < sizeof chunk / sizeof *chunk; j++) chunk[j] = xorshift32(&seed);
    sha256_update(&s, (const uint8_t *)chunk, sizeof chunk); /* little-endian words */
  }
  char hex[65];
  sha256_final(&s, hex);
  printf("hash n=%ld sha256=%s\n", mib, hex);
}

/* ---- sort ---- */

static int compare_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return (x > y) - (x < y);
}

static void run_sort(long n) {
  uint32_t *v = malloc((size_t)n * sizeof *v);
  if (v == NULL) {
    fprintf(stderr, "compute: out of memory\n");
    exit(71);
  }
  uint32_t seed = 12345;
  for (long i = 0; i < n; i++) v[i] = xorshift32(&seed);
  qsort(v, (size_t)n, sizeof *v, compare_u32);
  int sorted = 1;
  uint32_t checksum = 0;
  for (long i = 0; i < n; i++) {
    if (i > 0 && v[i - 1] > v[i]) sorted = 0;
    checksum += v[i] * (uint32_t)(i + 1);
  }
  free(v);
  printf("sort n=%ld sorted=%s checksum=%" PRIu32 "\n", n, sorted ? "yes" : "no", checksum);
}

/* ---- a register bytecode interpreter ---- */

struct vm;
struct insn;
typedef int (*op_fn)(struct vm *, const struct insn *, int pc);

struct insn {
  op_fn op;
  int a, b;
  int64_t c;
};

struct vm {
  uint64_t r[8];
  uint64_t executed;
};

static int op_seti(struct vm *m, const struct insn *i, int pc) { return m->r[i->a] = (uint64_t)i->c, pc + 1; }
static int op_mov(struct vm *m, const struct insn *i, int pc) { return m->r[i->a] = m->r[i->b], pc + 1; }
static int op_add(struct vm *m, const struct insn *i, int pc) { return m->r[i->a] += m->r[i->b], pc + 1; }
static int op_addi(struct vm *m, const struct insn *i, int pc) {
  return m->r[i->a] = m->r[i->b] + (uint64_t)i->c, pc + 1;
}
static int op_muli(struct vm *m, const struct insn *i, int pc) {
  return m->r[i->a] = m->r[i->b] * (uint64_t)i->c, pc + 1;
}
static int op_shri(struct vm *m, const struct insn *i, int pc) { return m->r[i->a] = m->r[i->b] >> i->c, pc + 1; }
static int op_andi(struct vm *m, const struct insn *i, int pc) {
  return m->r[i->a] = m->r[i->b] & (uint64_t)i->c, pc + 1;
}
static int op_eqi(struct vm *m, const struct insn *i, int pc) {
  return m->r[5] = m->r[i->a] == (uint64_t)i->c, pc + 1;
}
static int op_gt(struct vm *m, const struct insn *i, int pc) { return m->r[5] = m->r[i->a] > m->r[i->b], pc + 1; }
static int op_jnz(struct vm *m, const struct insn *i, int pc) { return m->r[i->a] ? (int)i->c : pc + 1; }
static int op_jz(struct vm *m, const struct insn *i, int pc) { return m->r[i->a] ? pc + 1 : (int)i->c; }
static int op_jmp(struct vm *m, const struct insn *i, int pc) { return (void)m, (void)pc, (int)i->c; }
static int op_halt(struct vm *m, const struct insn *i, int pc) { return (void)m, (void)i, (void)pc, -1; }

/* r0 = k, r1 = n, r2 = steps, r3 = total, r4 = limit, r5 = flag, r6 = scratch. */
static const struct insn collatz[] = {
    /*  0 */ {op_seti, 0, 0, 1},  /* k = 1 */
    /*  1 */ {op_seti, 3, 0, 0},  /* total = 0 */
    /*  2 */ {op_gt, 0, 4, 0},    /* flag = k > limit */
    /*  3 */ {op_jnz, 5, 0, 19},  /* -> halt */
    /*  4 */ {op_mov, 1, 0, 0},   /* n = k */
    /*  5 */ {op_seti, 2, 0, 0},  /* steps = 0 */
    /*  6 */ {op_eqi, 1, 0, 1},   /* flag = n == 1 */
    /*  7 */ {op_jnz, 5, 0, 16},  /* -> next k */
    /*  8 */ {op_andi, 6, 1, 1},  /* odd = n & 1 */
    /*  9 */ {op_jz, 6, 0, 13},   /* even -> halve */
    /* 10 */ {op_muli, 1, 1, 3},  /* n = 3n */
    /* 11 */ {op_addi, 1, 1, 1},  /* n = n + 1 */
    /* 12 */ {op_jmp, 0, 0, 14},
    /* 13 */ {op_shri, 1, 1, 1},  /* n = n / 2 */
    /* 14 */ {op_addi, 2, 2, 1},  /* steps++ */
    /* 15 */ {op_jmp, 0, 0, 6},
    /* 16 */ {op_add, 3, 2, 0},   /* total += steps */
    /* 17 */ {op_addi, 0, 0, 1},  /* k++ */
    /* 18 */ {op_jmp, 0, 0, 2},
    /* 19 */ {op_halt, 0, 0, 0},
};

static void run_interp(long n) {
  struct vm m = {{0}, 0};
  m.r[4] = (uint64_t)n;
  for (int pc = 0; pc >= 0; m.executed++) pc = collatz[pc].op(&m, &collatz[pc], pc);
  printf("interp n=%ld result=%" PRIu64 " insns=%" PRIu64 "\n", n, m.r[3], m.executed);
}

/* ---- calls ---- */

static uint64_t calls;
static uint64_t fib(uint32_t n);
static uint64_t (*volatile fib_ptr)(uint32_t) = fib;

static uint64_t fib(uint32_t n) {
  calls++;
  return n < 2 ? n : fib_ptr(n - 1) + fib_ptr(n - 2);
}

static void run_calls(long n) {
  calls = 0;
  uint64_t r = fib_ptr((uint32_t)n);
  printf("calls n=%ld result=%" PRIu64 " calls=%" PRIu64 "\n", n, r, calls);
}

/* ---- import calls ---- */

static void run_clock(long n) {
  struct timespec prev = {0, 0}, now;
  int ok = 1;
  for (long i = 0; i < n; i++) {
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec < prev.tv_sec || (now.tv_sec == prev.tv_sec && now.tv_nsec < prev.tv_nsec)) ok = 0;
    prev = now;
  }
  printf("clock n=%ld nondecreasing=%s\n", n, ok ? "yes" : "no");
}

static void run_random(long n) {
  uint8_t prev[16] = {0}, buf[16];
  int distinct = 1;
  for (long i = 0; i < n; i++) {
    if (getentropy(buf, sizeof buf) != 0) {
      perror("compute: getentropy");
      exit(70);
    }
    if (memcmp(buf, prev, sizeof buf) == 0) distinct = 0;
    memcpy(prev, buf, sizeof buf);
  }
  printf("random n=%ld distinct=%s\n", n, distinct ? "yes" : "no");
}

struct mode {
  const char *name;
  void (*run)(long);
  long fallback;
};

static const struct mode modes[] = {
    {"hash", run_hash, 4},    {"sort", run_sort, 200000},   {"interp", run_interp, 20000},
    {"calls", run_calls, 25}, {"clock", run_clock, 10000}, {"random", run_random, 1000},
};

int main(int argc, char **argv) {
  size_t count = sizeof modes / sizeof *modes;
  if (argc < 2 || strcmp(argv[1], "all") == 0) {
    for (size_t i = 0; i < count; i++) modes[i].run(modes[i].fallback);
    return 0;
  }
  for (int a = 1; a < argc; a++) {
    const struct mode *m = NULL;
    for (size_t i = 0; i < count; i++)
      if (strcmp(argv[a], modes[i].name) == 0) m = &modes[i];
    if (m == NULL) {
      fprintf(stderr, "compute: unknown mode %s (hash, sort, interp, calls, clock, random, all)\n", argv[a]);
      return 2;
    }
    long n = m->fallback;
    if (a + 1 < argc) {
      char *end;
      long v = strtol(argv[a + 1], &end, 10);
      if (*end == '\0' && end != argv[a + 1]) n = v, a++;
    }
    if (n < 0) {
      fprintf(stderr, "compute: %s needs a count >= 0\n", m->name);
      return 2;
    }
    m->run(n);
  }
  return 0;
}
