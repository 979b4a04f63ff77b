/* The file system's floor for writing a cpor output, in C (issue 14): what benches/floor.py
 * measures, without the interpreter's cost per file. The same directories and files with the same
 * bytes, created with the system calls cpor makes per file (openat relative to the open directory,
 * write, close) and nothing else; THREADS threads take whole directories, as cpor's writers take
 * whole partners.
 *
 *   gcc -O2 -pthread -o /tmp/floor benches/floor.c
 *   (cd SOURCE && find . -type f) > /tmp/files.txt
 *   /tmp/floor SOURCE DEST /tmp/files.txt THREADS
 *
 * SOURCE is a finished cpor output (on /dev/shm, say), DEST a directory that does not exist yet.
 * Every file is read into memory first; only the creating is timed. Run it beside `cpor run --out`
 * on the same file system in the same hour.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct file { char *dir, *name, *data; size_t len; };
static struct file *files;
static size_t nfiles, next_group;
static const char *dest;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static void die(const char *what, const char *path) { perror(path); fprintf(stderr, "floor: %s\n", what); exit(1); }

static void make_dirs(const char *rel) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dest, rel);
    for (char *p = path + strlen(dest) + 1; *p; p++)
        if (*p == '/') { *p = 0; mkdir(path, 0777); *p = '/'; }
    if (mkdir(path, 0777) != 0 && access(path, F_OK) != 0) die("mkdir", path);
}

/* Each thread takes the next run of files of one directory (the list is sorted by directory). */
static void *work(void *unused) {
    (void)unused;
    for (;;) {
        pthread_mutex_lock(&lock);
        size_t start = next_group, end = start;
        while (end < nfiles && strcmp(files[end].dir, files[start].dir) == 0) end++;
        next_group = end;
        pthread_mutex_unlock(&lock);
        if (start >= nfiles) return NULL;
        make_dirs(files[start].dir);
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dest, files[start].dir);
        int dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0) die("open directory", path);
        for (size_t i = start; i < end; i++) {
            int fd = openat(dir, files[i].name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
            if (fd < 0) die("openat", files[i].name);
            for (size_t done = 0; done < files[i].len;) {
                ssize_t n = write(fd, files[i].data + done, files[i].len - done);
                if (n <= 0) die("write", files[i].name);
                done += (size_t)n;
            }
            close(fd);
        }
        close(dir);
    }
}

static int by_dir(const void *a, const void *b) {
    return strcmp(((const struct file *)a)->dir, ((const struct file *)b)->dir);
}

int main(int argc, char **argv) {
    if (argc != 5) { fprintf(stderr, "usage: floor SOURCE DEST FILE_LIST THREADS\n"); return 2; }
    const char *source = argv[1];
    dest = argv[2];
    int threads = atoi(argv[4]);
    if (access(dest, F_OK) == 0) { fprintf(stderr, "floor: %s exists; give a new directory\n", dest); return 2; }
    FILE *list = fopen(argv[3], "r");
    if (!list) die("file list", argv[3]);
    size_t cap = 1 << 20, bytes = 0;
    files = malloc(cap * sizeof *files);
    char line[4096];
    while (fgets(line, sizeof line, list)) {
        line[strcspn(line, "\n")] = 0;
        char *rel = line[0] == '.' && line[1] == '/' ? line + 2 : line;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", source, rel);
        int fd = open(path, O_RDONLY);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) != 0) die("read", path);
        if (nfiles == cap) files = realloc(files, (cap *= 2) * sizeof *files);
        struct file *f = &files[nfiles++];
        f->len = (size_t)st.st_size;
        f->data = malloc(f->len + 1);
        for (size_t done = 0; done < f->len;) {
            ssize_t n = read(fd, f->data + done, f->len - done);
            if (n <= 0) die("read", path);
            done += (size_t)n;
        }
        close(fd);
        char *slash = strrchr(rel, '/');
        f->dir = strndup(rel, slash ? (size_t)(slash - rel) : 1);
        if (!slash) strcpy(f->dir, ".");
        f->name = strdup(slash ? slash + 1 : rel);
        bytes += f->len;
    }
    qsort(files, nfiles, sizeof *files, by_dir);
    if (mkdir(dest, 0777) != 0) die("mkdir", dest);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t *pool = calloc((size_t)threads, sizeof *pool);
    for (int i = 0; i < threads; i++) pthread_create(&pool[i], NULL, work, NULL);
    for (int i = 0; i < threads; i++) pthread_join(pool[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("floor (C): %.2f s for %zu files, %zu bytes, %d thread(s)\n", s, nfiles, bytes, threads);
    return 0;
}
