/*
 * kv: a long-running key-value service with a line protocol on stdin/stdout, the
 * workload that replica groups replicate. Every request gets exactly one reply line,
 * flushed at once; every request also reads the realtime clock (a nondeterministic
 * input the host must record), which STATS reports.
 *
 *   usage: kv [DIR]        (DIR defaults to /data, a preopened directory)
 *
 * At start DIR/kv.db is loaded if it exists. At end of input (or QUIT) the store is
 * saved to DIR/kv.db and kv exits 0.
 *
 *   SET key value   -> OK               (value is the rest of the line, may hold spaces)
 *   GET key         -> value | NIL
 *   INCR key [n]    -> the new integer  (a missing key counts as 0; n defaults to 1)
 *   DEL key         -> 1 | 0            (whether the key existed)
 *   KEYS            -> COUNT k1 k2 ...  (keys in byte order)
 *   SNAPSHOT        -> OK ENTRIES BYTES (DIR/kv.db written through a rename)
 *   STATS           -> entries=N digest=HEX16 requests=N snapshots=N time_ms=N uptime_ms=N
 *   PING            -> PONG
 *   QUIT            -> BYE (after saving)
 *   anything else   -> ERR message
 *
 * Keys are non-empty and hold no whitespace. The digest is FNV-1a 64 over the entries
 * in key order ("key\0value\0" each), so equal stores have equal digests.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct entry {
  char *key;
  char *value;
  uint64_t hash;
};

/* Open addressing with linear probing; deletion shifts entries back, so no tombstones. */
struct table {
  struct entry *slots;
  size_t cap;
  size_t count;
};

static char db_path[512];
static char db_tmp_path[512];

static void *xalloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (q == NULL) {
    fprintf(stderr, "kv: out of memory (%zu bytes)\n", n);
    exit(71);
  }
  return q;
}

static char *xstrdup(const char *s) {
  size_t n = strlen(s) + 1;
  return memcpy(xalloc(NULL, n), s, n);
}

static uint64_t fnv1a(uint64_t h, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)s[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

static uint64_t key_hash(const char *key) { return fnv1a(0xcbf29ce484222325ull, key, strlen(key)); }

static size_t find_slot(const struct table *t, const char *key, uint64_t h) {
  size_t i = h & (t->cap - 1);
  while (t->slots[i].key != NULL && (t->slots[i].hash != h || strcmp(t->slots[i].key, key) != 0))
    i = (i + 1) & (t->cap - 1);
  return i;
}

static void table_resize(struct table *t, size_t cap) {
  struct table bigger = {xalloc(NULL, cap * sizeof(struct entry)), cap, t->count};
  memset(bigger.slots, 0, cap * sizeof(struct entry));
  for (size_t i = 0; i < t->cap; i++) {
    if (t->slots[i].key != NULL) bigger.slots[find_slot(&bigger, t->slots[i].key, t->slots[i].hash)] = t->slots[i];
  }
  free(t->slots);
  *t = bigger;
}

static struct entry *table_get(const struct table *t, const char *key) {
  struct entry *e = &t->slots[find_slot(t, key, key_hash(key))];
  return e->key != NULL ? e : NULL;
}

/* Takes ownership of value. */
static void table_set(struct table *t, const char *key, char *value) {
  if ((t->count + 1) * 4 > t->cap * 3) table_resize(t, t->cap * 2);
  uint64_t h = key_hash(key);
  struct entry *e = &t->slots[find_slot(t, key, h)];
  if (e->key == NULL) {
    e->key = xstrdup(key);
    e->hash = h;
    t->count++;
  } else {
    free(e->value);
  }
  e->value = value;
}

static int table_del(struct table *t, const char *key) {
  size_t i = find_slot(t, key, key_hash(key));
  if (t->slots[i].key == NULL) return 0;
  free(t->slots[i].key);
  free(t->slots[i].value);
  t->slots[i].key = NULL;
  t->count--;
  /* Backward shift: move later entries of the probe run into the hole when allowed. */
  size_t hole = i;
  for (size_t j = (i + 1) & (t->cap - 1); t->slots[j].key != NULL; j = (j + 1) & (t->cap - 1)) {
    size_t home = t->slots[j].hash & (t->cap - 1);
    int between = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
    if (!between) {
      t->slots[hole] = t->slots[j];
      t->slots[j].key = NULL;
      hole = j;
    }
  }
  return 1;
}

static int by_key(const void *a, const void *b) {
  return strcmp((*(const struct entry *const *)a)->key, (*(const struct entry *const *)b)->key);
}

/* The entries in key order; the caller frees the array (not the entries). */
static struct entry **table_sorted(const struct table *t) {
  struct entry **list = xalloc(NULL, (t->count + 1) * sizeof *list);
  size_t n = 0;
  for (size_t i = 0; i < t->cap; i++)
    if (t->slots[i].key != NULL) list[n++] = &t->slots[i];
  qsort(list, n, sizeof *list, by_key);
  return list;
}

static uint64_t table_digest(const struct table *t) {
  struct entry **list = table_sorted(t);
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < t->count; i++) {
    h = fnv1a(h, list[i]->key, strlen(list[i]->key) + 1);
    h = fnv1a(h, list[i]->value, strlen(list[i]->value) + 1);
  }
  free(list);
  return h;
}

/* Writes "kvdb 1 COUNT" then one "key value" line per entry; returns the bytes written or -1. */
static long table_save(const struct table *t) {
  FILE *f = fopen(db_tmp_path, "w");
  if (f == NULL) return -1;
  struct entry **list = table_sorted(t);
  fprintf(f, "kvdb 1 %zu\n", t->count);
  for (size_t i = 0; i < t->count; i++) fprintf(f, "%s %s\n", list[i]->key, list[i]->value);
  free(list);
  long bytes = ftell(f);
  if (ferror(f) | fclose(f)) return -1;
  if (rename(db_tmp_path, db_path) != 0) return -1;
  return bytes;
}

static void chomp(char *line, ssize_t *len) {
  while (*len > 0 && (line[*len - 1] == '\n' || line[*len - 1] == '\r')) line[--*len] = '\0';
}

static void table_load(struct table *t) {
  FILE *f = fopen(db_path, "r");
  if (f == NULL) {
    if (errno == ENOENT) return;
    fprintf(stderr, "kv: cannot open %s: %s\n", db_path, strerror(errno));
    exit(74);
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t len = getline(&line, &cap, f);
  size_t expected;
  if (len < 0 || sscanf(line, "kvdb 1 %zu", &expected) != 1) {
    fprintf(stderr, "kv: %s is not a kv database\n", db_path);
    exit(65);
  }
  while ((len = getline(&line, &cap, f)) >= 0) {
    chomp(line, &len);
    char *space = strchr(line, ' ');
    if (space == NULL || space == line) {
      fprintf(stderr, "kv: %s: bad entry line\n", db_path);
      exit(65);
    }
    *space = '\0';
    table_set(t, line, xstrdup(space + 1));
  }
  free(line);
  fclose(f);
  if (t->count != expected) {
    fprintf(stderr, "kv: %s: header says %zu entries, found %zu\n", db_path, expected, t->count);
    exit(65);
  }
}

static uint64_t clock_ms(clockid_t id) {
  struct timespec ts;
  if (clock_gettime(id, &ts) != 0) {
    fprintf(stderr, "kv: clock_gettime: %s\n", strerror(errno));
    exit(70);
  }
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Splits off the next whitespace-separated token; *rest points after one separator. */
static char *next_token(char **rest) {
  char *s = *rest;
  while (*s == ' ' || *s == '\t') s++;
  if (*s == '\0') return NULL;
  char *start = s;
  while (*s != '\0' && *s != ' ' && *s != '\t') s++;
  if (*s != '\0') *s++ = '\0';
  *rest = s;
  return start;
}

static int parse_i64(const char *s, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0') return 0;
  *out = v;
  return 1;
}

struct stats {
  uint64_t requests;
  uint64_t snapshots;
  uint64_t last_request_ms;
  uint64_t started_ms;
};

static void save_or_die(const struct table *t) {
  if (table_save(t) < 0) {
    fprintf(stderr, "kv: cannot save %s: %s\n", db_path, strerror(errno));
    exit(74);
  }
}

/* Answers one request line; returns 0 when the service should stop. */
static int handle(struct table *t, struct stats *st, char *line) {
  char *rest = line;
  char *cmd = next_token(&rest);
  if (cmd == NULL) {
    puts("ERR empty request");
    return 1;
  }
  for (char *c = cmd; *c; c++) *c = (char)toupper((unsigned char)*c);

  if (strcmp(cmd, "SET") == 0) {
    char *key = next_token(&rest);
    if (key == NULL) {
      puts("ERR usage: SET key value");
      return 1;
    }
    table_set(t, key, xstrdup(rest));
    puts("OK");
  } else if (strcmp(cmd, "GET") == 0) {
    char *key = next_token(&rest);
    struct entry *e = key != NULL ? table_get(t, key) : NULL;
    if (key == NULL) puts("ERR usage: GET key");
    else puts(e != NULL ? e->value : "NIL");
  } else if (strcmp(cmd, "INCR") == 0) {
    char *key = next_token(&rest);
    char *by = key != NULL ? next_token(&rest) : NULL;
    int64_t delta = 1;
    int64_t current = 0;
    if (key == NULL || (by != NULL && !parse_i64(by, &delta))) {
      puts("ERR usage: INCR key [n]");
      return 1;
    }
    struct entry *e = table_get(t, key);
    if (e != NULL && !parse_i64(e->value, &current)) {
      puts("ERR value is not an integer");
      return 1;
    }
    if (__builtin_add_overflow(current, delta, &current)) {
      puts("ERR increment would overflow");
      return 1;
    }
    char *value = xalloc(NULL, 24);
    snprintf(value, 24, "%" PRId64, current);
    table_set(t, key, value);
    puts(value);
  } else if (strcmp(cmd, "DEL") == 0) {
    char *key = next_token(&rest);
    if (key == NULL) puts("ERR usage: DEL key");
    else puts(table_del(t, key) ? "1" : "0");
  } else if (strcmp(cmd, "KEYS") == 0) {
    struct entry **list = table_sorted(t);
    printf("%zu", t->count);
    for (size_t i = 0; i < t->count; i++) printf(" %s", list[i]->key);
    putchar('\n');
    free(list);
  } else if (strcmp(cmd, "SNAPSHOT") == 0) {
    long bytes = table_save(t);
    if (bytes < 0) {
      printf("ERR snapshot failed: %s\n", strerror(errno));
    } else {
      st->snapshots++;
      printf("OK %zu %ld\n", t->count, bytes);
    }
  } else if (strcmp(cmd, "STATS") == 0) {
    printf("entries=%zu digest=%016" PRIx64 " requests=%" PRIu64 " snapshots=%" PRIu64 " time_ms=%" PRIu64
           " uptime_ms=%" PRIu64 "\n",
           t->count, table_digest(t), st->requests, st->snapshots, st->last_request_ms,
           clock_ms(CLOCK_MONOTONIC) - st->started_ms);
  } else if (strcmp(cmd, "PING") == 0) {
    puts("PONG");
  } else if (strcmp(cmd, "QUIT") == 0) {
    save_or_die(t);
    puts("BYE");
    return 0;
  } else {
    printf("ERR unknown command %s\n", cmd);
  }
  return 1;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "/data";
  snprintf(db_path, sizeof db_path, "%s/kv.db", dir);
  snprintf(db_tmp_path, sizeof db_tmp_path, "%s/kv.db.tmp", dir);

  struct table t = {xalloc(NULL, 64 * sizeof(struct entry)), 64, 0};
  memset(t.slots, 0, 64 * sizeof(struct entry));
  table_load(&t);
  struct stats st = {0, 0, 0, clock_ms(CLOCK_MONOTONIC)};

  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  int running = 1;
  while (running && (len = getline(&line, &cap, stdin)) >= 0) {
    chomp(line, &len);
    st.requests++;
    st.last_request_ms = clock_ms(CLOCK_REALTIME);
    running = handle(&t, &st, line);
    fflush(stdout);
  }
  if (running) {
    if (ferror(stdin)) {
      fprintf(stderr, "kv: cannot read stdin: %s\n", strerror(errno));
      return 74;
    }
    save_or_die(&t);
  }
  return 0;
}
