/*
 * fsops: an ordinary C program that drives the file system of a preopened directory
 * through POSIX calls (open flags, lseek, pread/pwrite, ftruncate, fstat/stat,
 * opendir/readdir, rename, unlink, mkdir/rmdir) including the error cases, and prints
 * one deterministic line per step, errors by their errno name. A WASI host must print
 * exactly what the reference runtime prints.
 *
 *   usage: fsops [DIR]        (DIR defaults to /data)
 *
 * It works inside DIR/fsops, which it empties first, and leaves its results there.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *errno_name(int e) {
  switch (e) {
    case EACCES: return "EACCES";
    case EBADF: return "EBADF";
    case EEXIST: return "EEXIST";
    case EINVAL: return "EINVAL";
    case EISDIR: return "EISDIR";
    case ELOOP: return "ELOOP";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOENT: return "ENOENT";
    case ENOTCAPABLE: return "ENOTCAPABLE";
    case ENOTDIR: return "ENOTDIR";
    case ENOTEMPTY: return "ENOTEMPTY";
    case ENOTSUP: return "ENOTSUP";
    case EPERM: return "EPERM";
    case ESPIPE: return "ESPIPE";
    case EXDEV: return "EXDEV";
    default: return "E?";
  }
}

static char root[256];
static int failures;

static const char *at(const char *rel) {
  static char bufs[4][512];
  static int next;
  char *b = bufs[next++ % 4];
  snprintf(b, sizeof bufs[0], "%s/%s", root, rel);
  return b;
}

/* Prints "label: ok" or "label: ENAME" for a call that returns -1 on error. */
static long step(const char *label, long rc) {
  if (rc < 0) printf("%s: %s\n", label, errno_name(errno));
  else printf("%s: ok\n", label);
  return rc;
}

/* A step that must succeed for the rest to make sense. */
static long must(const char *label, long rc) {
  if (rc < 0) {
    printf("%s: FAILED %s (%s)\n", label, errno_name(errno), strerror(errno));
    failures++;
  }
  return rc;
}

static void expect(const char *label, long got, long want) {
  printf("%s: %ld%s\n", label, got, got == want ? "" : " (unexpected)");
  if (got != want) failures++;
}

static void write_file(const char *rel, const char *text) {
  int fd = (int)must(rel, open(at(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644));
  if (fd < 0) return;
  must(rel, write(fd, text, strlen(text)));
  close(fd);
}

static long file_size(const char *rel) {
  struct stat st;
  if (stat(at(rel), &st) != 0) return -1;
  return (long)st.st_size;
}

static int by_name(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The names in a directory without "." and "..", sorted (readdir order is the host's). */
static size_t list_dir(const char *path, char **names, size_t max) {
  DIR *d = opendir(path);
  if (d == NULL) return 0;
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (n < max) names[n++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, by_name);
  return n;
}

static void remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    char *names[256];
    size_t n = list_dir(path, names, 256);
    for (size_t i = 0; i < n; i++) {
      char child[512];
      snprintf(child, sizeof child, "%s/%s", path, names[i]);
      remove_tree(child);
      free(names[i]);
    }
    must("rmdir (cleanup)", rmdir(path));
  } else {
    must("unlink (cleanup)", unlink(path));
  }
}

static void print_tree(const char *path, const char *shown) {
  char *names[256];
  size_t n = list_dir(path, names, 256);
  for (size_t i = 0; i < n; i++) {
    char child[512], label[512];
    snprintf(child, sizeof child, "%s/%s", path, names[i]);
    snprintf(label, sizeof label, "%s%s%s", shown, *shown ? "/" : "", names[i]);
    struct stat st;
    stat(child, &st);
    if (S_ISDIR(st.st_mode)) {
      printf("  %s/\n", label);
      print_tree(child, label);
    } else {
      printf("  %s %ld\n", label, (long)st.st_size);
    }
    free(names[i]);
  }
}

int main(int argc, char **argv) {
  const char *base = argc > 1 ? argv[1] : "/data";
  snprintf(root, sizeof root, "%s/fsops", base);
  remove_tree(root);

  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  printf("clock after 2020: %s\n", ts.tv_sec > 1577836800 ? "yes" : "no");

  if (step("mkdir fsops", mkdir(root, 0755)) < 0) {
    printf("fsops: cannot create %s, stopping\n", root);
    return 1;
  }
  step("mkdir fsops again", mkdir(root, 0755));

  /* Create exclusively, then read and write at offsets. */
  int fd = (int)step("open a.txt O_CREAT|O_EXCL", open(at("a.txt"), O_RDWR | O_CREAT | O_EXCL, 0644));
  step("open a.txt O_CREAT|O_EXCL again", open(at("a.txt"), O_RDWR | O_CREAT | O_EXCL, 0644));
  expect("write hello world", write(fd, "hello world\n", 12), 12);
  expect("lseek SEEK_END", lseek(fd, 0, SEEK_END), 12);
  expect("lseek SEEK_SET 6", lseek(fd, 6, SEEK_SET), 6);
  char buf[64] = {0};
  expect("read 5", read(fd, buf, 5), 5);
  printf("read text: %s\n", buf);
  expect("lseek SEEK_CUR", lseek(fd, 0, SEEK_CUR), 11);
  expect("pwrite HELLO at 0", pwrite(fd, "HELLO", 5, 0), 5);
  memset(buf, 0, sizeof buf);
  expect("pread 32 at 0", pread(fd, buf, 32, 0), 12);
  printf("pread text: %.11s\n", buf);
  expect("offset after pread/pwrite", lseek(fd, 0, SEEK_CUR), 11);
  expect("read at end", read(fd, buf, 32), 1);
  expect("read past end", read(fd, buf, 32), 0);
  step("lseek negative", lseek(fd, -100, SEEK_SET));

  /* Truncate down, then extend with zeros. */
  step("ftruncate 4", ftruncate(fd, 4));
  expect("size after ftruncate 4", file_size("a.txt"), 4);
  step("ftruncate 10", ftruncate(fd, 10));
  memset(buf, 0xff, sizeof buf);
  expect("pread after extend", pread(fd, buf, 32, 0), 10);
  int zeros = 0;
  for (int i = 4; i < 10; i++) zeros += buf[i] == 0;
  expect("zero bytes after extend", zeros, 6);
  struct stat st;
  step("fstat", fstat(fd, &st));
  printf("fstat: regular %d size %ld\n", S_ISREG(st.st_mode) != 0, (long)st.st_size);
  close(fd);
  step("read closed fd", read(fd, buf, 1));

  /* O_APPEND writes at the end whatever the offset. */
  fd = (int)must("open O_APPEND", open(at("a.txt"), O_WRONLY | O_APPEND));
  lseek(fd, 0, SEEK_SET);
  expect("append xyz", write(fd, "xyz", 3), 3);
  step("read on O_WRONLY", read(fd, buf, 1));
  close(fd);
  expect("size after append", file_size("a.txt"), 13);
  fd = (int)must("open O_RDONLY", open(at("a.txt"), O_RDONLY));
  step("write on O_RDONLY", write(fd, "x", 1));
  expect("pread tail", pread(fd, buf, 3, 10), 3);
  printf("tail: %.3s\n", buf);
  close(fd);

  /* O_TRUNC empties an existing file. */
  write_file("b.txt", "some text that will go away");
  expect("size of b.txt", file_size("b.txt"), 27);
  fd = (int)must("open O_TRUNC", open(at("b.txt"), O_WRONLY | O_TRUNC));
  close(fd);
  expect("size after O_TRUNC", file_size("b.txt"), 0);

  /* A larger file in chunks, read back with a checksum. */
  fd = (int)must("open big.bin", open(at("big.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644));
  unsigned long sum = 0, sum_back = 0;
  for (int i = 0; i < 48; i++) {
    char chunk[2048];
    for (int j = 0; j < (int)sizeof chunk; j++) {
      chunk[j] = (char)((i * 13 + j * 7) % 253);
      sum = sum * 31 + (unsigned char)chunk[j];
    }
    must("write chunk", write(fd, chunk, sizeof chunk));
  }
  lseek(fd, 0, SEEK_SET);
  ssize_t got;
  long total = 0;
  while ((got = read(fd, buf, sizeof buf)) > 0) {
    for (ssize_t j = 0; j < got; j++) sum_back = sum_back * 31 + (unsigned char)buf[j];
    total += got;
  }
  expect("big.bin bytes read", total, 48 * 2048);
  printf("big.bin checksum matches: %s\n", sum == sum_back ? "yes" : "no");
  close(fd);

  /* Directories. */
  step("mkdir sub", mkdir(at("sub"), 0755));
  step("mkdir sub/deeper", mkdir(at("sub/deeper"), 0755));
  step("mkdir missing/parent", mkdir(at("missing/parent"), 0755));
  write_file("sub/one.txt", "1");
  write_file("sub/two.txt", "22");
  write_file("sub/deeper/three.txt", "333");
  step("stat sub", stat(at("sub"), &st));
  printf("stat sub: dir %d\n", S_ISDIR(st.st_mode) != 0);
  step("stat missing", stat(at("nothing"), &st));
  step("opendir a.txt", opendir(at("a.txt")) == NULL ? -1 : 0);
  DIR *d = opendir(at("sub"));
  int entries = 0, dirs = 0, regular = 0;
  struct dirent *e;
  while (d != NULL && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    entries++;
    dirs += e->d_type == DT_DIR;
    regular += e->d_type == DT_REG;
  }
  if (d != NULL) closedir(d);
  printf("readdir sub: %d entries, %d dirs, %d files\n", entries, dirs, regular);

  /* Rename files and directories, also over an existing file. */
  step("rename a.txt -> c.txt", rename(at("a.txt"), at("c.txt")));
  step("stat a.txt after rename", stat(at("a.txt"), &st));
  expect("size of c.txt", file_size("c.txt"), 13);
  step("rename b.txt over c.txt", rename(at("b.txt"), at("c.txt")));
  expect("size of c.txt after", file_size("c.txt"), 0);
  step("rename missing", rename(at("nothing"), at("other")));
  step("rename sub -> moved", rename(at("sub"), at("moved")));
  step("rename file over dir", rename(at("c.txt"), at("moved")));

  /* Removal and its errors. */
  step("rmdir non-empty", rmdir(at("moved")));
  step("rmdir a file", rmdir(at("c.txt")));
  step("unlink a dir", unlink(at("moved/deeper")));
  step("unlink c.txt", unlink(at("c.txt")));
  step("unlink c.txt again", unlink(at("c.txt")));
  step("unlink moved/deeper/three.txt", unlink(at("moved/deeper/three.txt")));
  step("rmdir moved/deeper", rmdir(at("moved/deeper")));

  /* Opening errors. */
  step("open missing", open(at("nothing"), O_RDONLY));
  step("open dir O_WRONLY", open(at("moved"), O_WRONLY));
  step("open file O_DIRECTORY", open(at("big.bin"), O_RDONLY | O_DIRECTORY));
  step("open in missing dir", open(at("nothing/x"), O_WRONLY | O_CREAT, 0644));
  step("open outside the preopen", open(at("../../outside.txt"), O_RDONLY));

  printf("tree:\n");
  print_tree(root, "");
  printf("fsops: %s\n", failures == 0 ? "done" : "FAILED");
  return failures == 0 ? 0 : 1;
}
