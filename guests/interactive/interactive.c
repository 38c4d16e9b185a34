/*
 * interactive: a line-oriented guest whose state mixes everything nondeterministic a
 * WASI host hands it (stdin lines, the realtime and monotonic clocks, random bytes).
 *
 * State lives in memory (a running hash, a growing history of lines, blocks added by
 * `grow`) and on the virtual disk (DIR/journal.txt is appended to, DIR/state.bin is
 * rewritten after every line and read back at start). One reply line per input line,
 * flushed before the next blocking read, so a host sees each answer as it is made.
 *
 *   usage: interactive [DIR]        (DIR defaults to /data, a preopened directory)
 *
 * Commands (any other line is just mixed into the state):
 *   quit        reply "bye after N lines", exit 0
 *   exit N      reply "exit N", exit with code N
 *   grow K      keep a new K KiB block of state-derived bytes (linear memory grows)
 *   sleep MS    sleep MS milliseconds (a poll_oneoff clock subscription)
 *   history     reply with the number of lines and bytes kept in memory
 * End of input: reply "eof after N lines", exit 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE_MAGIC 0x41545349u /* "ISTA" little-endian */
#define STATE_VERSION 1u

/* The on-disk state; wasm32 is little-endian and the fields are fixed-size. */
struct saved_state {
  uint32_t magic;
  uint32_t version;
  uint64_t lines;
  uint64_t hash;
};

struct history {
  char **lines;
  size_t count;
  size_t cap;
  size_t bytes;
};

struct blocks {
  unsigned char **ptrs;
  size_t count;
  size_t kib;
};

static const char *data_dir = "/data";
static char journal_path[512];
static char state_path[512];
static char state_tmp_path[512];

static void die(const char *what, const char *path) {
  fprintf(stderr, "interactive: %s %s: %s\n", what, path, strerror(errno));
  exit(70);
}

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (q == NULL) {
    fprintf(stderr, "interactive: out of memory (%zu bytes)\n", n);
    exit(71);
  }
  return q;
}

static uint64_t mix64(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  h ^= h >> 31;
  return h;
}

static uint64_t mix_bytes(uint64_t h, const char *p, size_t n) {
  uint64_t f = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    f ^= (unsigned char)p[i];
    f *= 0x100000001b3ull;
  }
  return mix64(h, f ^ n);
}

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts;
  if (clock_gettime(id, &ts) != 0) die("clock_gettime", "");
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t random64(void) {
  uint64_t r;
  if (getentropy(&r, sizeof r) != 0) die("getentropy", "");
  return r;
}

static void load_state(uint64_t *lines, uint64_t *hash) {
  int fd = open(state_path, O_RDONLY);
  if (fd < 0) {
    if (errno == ENOENT) return;
    die("cannot open", state_path);
  }
  struct saved_state s;
  ssize_t n = read(fd, &s, sizeof s);
  close(fd);
  if (n != (ssize_t)sizeof s || s.magic != STATE_MAGIC || s.version != STATE_VERSION) {
    fprintf(stderr, "interactive: %s is not a state file, ignoring it\n", state_path);
    return;
  }
  *lines = s.lines;
  *hash = s.hash;
}

/* Rewrites the whole state file through a rename, as a careful program would. */
static void save_state(uint64_t lines, uint64_t hash) {
  struct saved_state s = {STATE_MAGIC, STATE_VERSION, lines, hash};
  int fd = open(state_tmp_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("cannot write", state_tmp_path);
  if (write(fd, &s, sizeof s) != (ssize_t)sizeof s) die("short write to", state_tmp_path);
  if (close(fd) != 0) die("cannot close", state_tmp_path);
  if (rename(state_tmp_path, state_path) != 0) die("cannot rename to", state_path);
}

static void history_add(struct history *h, const char *line, size_t len) {
  if (h->count == h->cap) {
    h->cap = h->cap ? h->cap * 2 : 16;
    h->lines = xrealloc(h->lines, h->cap * sizeof *h->lines);
  }
  char *copy = xrealloc(NULL, len + 1);
  memcpy(copy, line, len + 1);
  h->lines[h->count++] = copy;
  h->bytes += len + 1;
}

static void blocks_grow(struct blocks *b, size_t kib, uint64_t seed) {
  unsigned char *p = xrealloc(NULL, kib * 1024);
  uint64_t x = seed | 1;
  for (size_t i = 0; i < kib * 1024; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = (unsigned char)(x >> 24);
  }
  b->ptrs = xrealloc(b->ptrs, (b->count + 1) * sizeof *b->ptrs);
  b->ptrs[b->count++] = p;
  b->kib += kib;
}

static int parse_number(const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') return 0;
  *out = v;
  return 1;
}

int main(int argc, char **argv) {
  if (argc > 1) data_dir = argv[1];
  snprintf(journal_path, sizeof journal_path, "%s/journal.txt", data_dir);
  snprintf(state_path, sizeof state_path, "%s/state.bin", data_dir);
  snprintf(state_tmp_path, sizeof state_tmp_path, "%s/state.bin.tmp", data_dir);

  uint64_t lines = 0;
  uint64_t hash = 0x1234abcd5678ef90ull;
  load_state(&lines, &hash);

  /* The journal stays open for the whole run (a host must keep it in its fd table). */
  int journal = open(journal_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (journal < 0) die("cannot open", journal_path);

  uint64_t started = clock_ns(CLOCK_MONOTONIC);
  hash = mix64(hash, clock_ns(CLOCK_REALTIME));
  hash = mix64(hash, random64());
  printf("interactive ready: lines=%" PRIu64 " hash=%016" PRIx64 "\n", lines, hash);
  fflush(stdout);

  struct history history = {0};
  struct blocks blocks = {0};
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, stdin)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    lines++;

    uint64_t now = clock_ns(CLOCK_REALTIME);
    uint64_t mono = clock_ns(CLOCK_MONOTONIC);
    uint64_t rnd = random64();
    hash = mix_bytes(hash, line, (size_t)len);
    hash = mix64(hash, now);
    hash = mix64(hash, mono);
    hash = mix64(hash, rnd);
    history_add(&history, line, (size_t)len);

    char entry[160];
    int n = snprintf(entry, sizeof entry, "%" PRIu64 " %016" PRIx64 " %" PRIu64 " %.*s\n", lines, hash,
                     now / 1000000, (int)(len > 64 ? 64 : len), line);
    if (n >= (int)sizeof entry) n = sizeof entry - 1;
    if (write(journal, entry, (size_t)n) != n) die("short write to", journal_path);
    save_state(lines, hash);
    struct stat st;
    if (fstat(journal, &st) != 0) die("cannot stat", journal_path);

    long arg;
    if (strcmp(line, "quit") == 0) {
      printf("bye after %" PRIu64 " lines\n", lines);
      return 0;
    }
    if (strncmp(line, "exit ", 5) == 0 && parse_number(line + 5, &arg)) {
      printf("exit %ld\n", arg);
      fflush(stdout);
      exit((int)arg);
    }
    if (strncmp(line, "grow ", 5) == 0 && parse_number(line + 5, &arg) && arg > 0 && arg <= 65536) {
      blocks_grow(&blocks, (size_t)arg, hash);
      printf("grew %ld KiB, total %zu KiB in %zu blocks\n", arg, blocks.kib, blocks.count);
    } else if (strncmp(line, "sleep ", 6) == 0 && parse_number(line + 6, &arg) && arg >= 0) {
      struct timespec ts = {arg / 1000, (arg % 1000) * 1000000};
      nanosleep(&ts, NULL);
      printf("slept %ld ms\n", arg);
    } else if (strcmp(line, "history") == 0) {
      printf("history %zu lines, %zu bytes\n", history.count, history.bytes);
    } else {
      printf("#%" PRIu64 " hash=%016" PRIx64 " journal=%lld mem=%zu rand=%04x uptime_ms=%" PRIu64
             " echo=%s\n",
             lines, hash, (long long)st.st_size, history.bytes + blocks.kib * 1024, (unsigned)(rnd & 0xffff),
             (mono - started) / 1000000, line);
    }
    fflush(stdout);
  }
  if (ferror(stdin)) die("cannot read", "stdin");
  printf("eof after %" PRIu64 " lines\n", lines);
  return 0;
}
