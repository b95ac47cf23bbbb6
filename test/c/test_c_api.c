/* The C API's test, in C99: every function of <shmregion/shmregion.h>, across fork()ed
 * children (join, shared data, growth seen by refresh, a lock holder killed with SIGKILL),
 * and every error path it can provoke. Exits 0 on success, 1 with a message at the first
 * failed check, 77 if the machine lacks what it needs. Its home is
 * $TMPDIR/shmregion-test-c-<pid> (the prefix the leak check looks for); an atexit handler
 * force-unlinks every region in it and removes it, whatever failed. Children end with
 * _exit() under an alarm() watchdog; hand-offs go through pipes, never sleeps. */
#define _POSIX_C_SOURCE 200809L

#include <shmregion/shmregion.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int shmregion_test_header_as_cxx(void); /* header_as_cxx.cpp */

static char home[4096];
static pid_t parent_pid;
static unsigned counter;
static int checks;

#define FAIL(...)                                                                             \
    do {                                                                                      \
        fprintf(stderr, "%s:%d: check failed: ", __FILE__, __LINE__);                         \
        fprintf(stderr, __VA_ARGS__);                                                         \
        fprintf(stderr, "\n  last error: %s\n", shmregion_last_error());                     \
        if (getpid() != parent_pid) _exit(1);                                                 \
        exit(1);                                                                              \
    } while (0)

#define CHECK(cond)                               \
    do {                                          \
        ++checks;                                 \
        if (!(cond)) FAIL("%s", #cond);           \
    } while (0)

/* rc == want, showing both codes with their meaning. */
#define CHECK_RC(expr, want)                                                                    \
    do {                                                                                        \
        int rc_ = (expr);                                                                       \
        int want_ = (want);                                                                     \
        ++checks;                                                                               \
        if (rc_ != want_)                                                                       \
            FAIL("%s returned %d (%s), expected %d (%s)", #expr, rc_, shmregion_strerror(rc_), want_, \
                 shmregion_strerror(want_));                                                    \
    } while (0)

#define CHECK_OK(expr) CHECK_RC(expr, 0)

/* The last error names what it should. */
#define CHECK_MESSAGE(part)                                                                    \
    do {                                                                                       \
        ++checks;                                                                              \
        if (strstr(shmregion_last_error(), (part)) == NULL)                                    \
            FAIL("last error \"%s\" does not contain \"%s\"", shmregion_last_error(), (part)); \
    } while (0)

static void cleanup(void) {
    char** names = NULL;
    size_t n = 0, i;
    DIR* d;
    struct dirent* e;
    char path[8192];
    if (getpid() != parent_pid || home[0] == '\0') return;
    if (shmregion_list(home, &names, &n) == 0) {
        for (i = 0; i < n; ++i)
            shmregion_unlink(home, names[i],
                             SHMREGION_UNLINK_FORCE | SHMREGION_UNLINK_ANY_OWNER | SHMREGION_UNLINK_ALLOW_FOREIGN);
        shmregion_list_free(names);
    }
    d = opendir(home);
    if (d) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(path, sizeof path, "%s/%s", home, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(home);
}

/* A name unique to this run: c<pid>-<n>. */
static const char* unique_name(char* buf, size_t n) {
    snprintf(buf, n, "c%ld-%u", (long)getpid(), counter++);
    return buf;
}

static void options(shmregion_options* o, const char* name, int backing) {
    CHECK_OK(shmregion_options_init(o));
    o->home = home;
    o->name = name;
    o->backing = backing;
    o->size = 64 * 1024;
    o->max_size = 1024 * 1024;
}

static int wait_child(pid_t pid) {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1000;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return -WTERMSIG(status);
    return -1001;
}

static pid_t start_child(void) {
    pid_t pid;
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0) FAIL("fork: %s", strerror(errno));
    if (pid == 0) alarm(30);
    return pid;
}

static void put(int fd, char c) {
    if (write(fd, &c, 1) != 1) FAIL("write to pipe: %s", strerror(errno));
}

static char get(int fd) {
    char c = 0;
    ssize_t n;
    do n = read(fd, &c, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) FAIL("read from pipe: %s", n == 0 ? "end of file" : strerror(errno));
    return c;
}

static int in_list(const char* name) {
    char** names = NULL;
    size_t n = 99, i;
    int found = 0;
    CHECK_OK(shmregion_list(home, &names, &n));
    CHECK(names != NULL);
    CHECK(names[n] == NULL);
    for (i = 0; i < n; ++i) found |= strcmp(names[i], name) == 0;
    shmregion_list_free(names);
    return found;
}

/* ---- codes, version, options ------------------------------------------------------- */

static void test_codes(void) {
    int c;
    CHECK(strlen(shmregion_version()) >= 5);
    CHECK(strlen(shmregion_strerror(0)) > 0);
    CHECK(strlen(shmregion_strerror(SHMREGION_OWNER_DIED)) > 0);
    CHECK(strlen(shmregion_strerror(SHMREGION_EUNKNOWN)) > 0);
    CHECK(strlen(shmregion_strerror(12345)) > 0);
    for (c = SHMREGION_EBASE - 1; c >= SHMREGION_ELAST; --c) {
        const char* s = shmregion_strerror(c);
        CHECK(s != NULL && strlen(s) > 0);
        CHECK(strstr(s, "unknown") == NULL);
    }
    for (c = -1; c > -134; --c) CHECK(strlen(shmregion_strerror(c)) > 0);
    CHECK(strcmp(shmregion_strerror(-ENOENT), strerror(ENOENT)) == 0);
    CHECK(strcmp(shmregion_strerror(SHMREGION_ENOT_FOUND), "no such region") == 0);
    CHECK_OK(shmregion_test_header_as_cxx());
}

static void test_options(void) {
    shmregion_options o;
    CHECK_OK(shmregion_options_init(&o));
    CHECK(o.struct_size == sizeof o);
    CHECK(o.home == NULL && o.name == NULL);
    CHECK(o.backing == SHMREGION_BACKING_FILE);
    CHECK(o.open_mode == SHMREGION_CREATE_OR_JOIN);
    CHECK(o.size == 0 && o.max_size == 0);
    CHECK(o.max_attachers == 128);
    CHECK(o.permissions == 0600);
    CHECK(o.join_timeout_ms == 5000);
    CHECK(o.io_engine == SHMREGION_ENGINE_AUTO);
    CHECK(o.prefault == SHMREGION_PREFAULT_NONE);
    CHECK(o.remove_on_last_detach == 0);
    CHECK(o.require_same_owner == 1);
    CHECK(o.locks == 0);
    /* A caller built against the first version (without locks) is still served. */
    CHECK_OK(shmregion_options_init_sized(&o, offsetof(shmregion_options, locks)));
    CHECK(o.struct_size == offsetof(shmregion_options, locks));
    CHECK_RC(shmregion_options_init_sized(&o, sizeof(size_t)), -EINVAL);
    CHECK_MESSAGE("struct_size");
    CHECK_RC(shmregion_options_init(NULL), -EINVAL);
}

/* ---- errors of attach and of the handle-less calls ----------------------------------- */

static void test_attach_errors(void) {
    shmregion_options o;
    shmregion_region* r = (shmregion_region*)&o; /* must be reset to NULL on failure */
    char name[64];
    struct {
        shmregion_options o;
        unsigned char newer[16];
    } big;

    options(&o, "a/b", SHMREGION_BACKING_FILE);
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_EINVALID_NAME);
    CHECK(r == NULL);
    CHECK_MESSAGE("attach");
    CHECK_MESSAGE("name");
    o.name = NULL;
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_EINVALID_NAME);
    o.name = "..";
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_EINVALID_NAME);

    options(&o, unique_name(name, sizeof name), SHMREGION_BACKING_FILE);
    o.open_mode = SHMREGION_JOIN_ONLY;
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_ENOT_FOUND);
    CHECK_MESSAGE(name);
    CHECK(r == NULL);

    options(&o, name, SHMREGION_BACKING_FILE);
    o.size = 0;
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_EINVALID_SIZE);
    options(&o, name, SHMREGION_BACKING_FILE);
    o.max_size = 4096; /* below size */
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_EINVALID_SIZE);
    options(&o, name, 99);
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_EINVALID_OPTIONS);
    CHECK_MESSAGE("backing 99");
    options(&o, name, SHMREGION_BACKING_ANY);
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_EINVALID_OPTIONS); /* any on create */
    options(&o, name, SHMREGION_BACKING_FILE);
    o.open_mode = 7;
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_EINVALID_OPTIONS);
    CHECK_MESSAGE("open_mode");
    options(&o, name, SHMREGION_BACKING_FILE);
    o.max_attachers = 0;
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_EINVALID_OPTIONS);
    CHECK_MESSAGE("max_attachers");
    options(&o, name, SHMREGION_BACKING_FILE);
    o.permissions = 04600;
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_EINVALID_OPTIONS);
    options(&o, name, SHMREGION_BACKING_FILE);
    o.join_timeout_ms = -1;
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_EINVALID_OPTIONS);
    CHECK_MESSAGE("join_timeout_ms");
    options(&o, name, SHMREGION_BACKING_FILE);
    o.io_engine = 42;
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_EINVALID_OPTIONS);
    CHECK_MESSAGE("io_engine");
    options(&o, name, SHMREGION_BACKING_FILE);
    o.prefault = 3;
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_EINVALID_OPTIONS);
    CHECK_MESSAGE("prefault");
    options(&o, name, SHMREGION_BACKING_FILE);
    o.struct_size = 8;
    CHECK_RC(shmregion_attach(&o, &r), SHMREGION_EINVALID_OPTIONS);
    CHECK_MESSAGE("struct_size");
    options(&o, name, SHMREGION_BACKING_FILE);
    o.home = "/nonexistent/shmregion-c-test";
    CHECK(shmregion_attach(&o, &r) < 0);
    CHECK(r == NULL);
    CHECK_MESSAGE("/nonexistent/shmregion-c-test");

    /* A caller built against a newer header: unknown fields must be zero. */
    memset(&big, 0, sizeof big);
    CHECK_OK(shmregion_options_init_sized(&big.o, sizeof big));
    CHECK(big.o.struct_size == sizeof big);
    big.o.home = home;
    big.o.name = name;
    big.o.size = 4096;
    big.newer[3] = 1;
    CHECK_RC(shmregion_attach(&big.o, &r), SHMREGION_EINVALID_OPTIONS);
    CHECK_MESSAGE("does not know");
    big.newer[3] = 0;
    CHECK_OK(shmregion_attach(&big.o, &r));
    CHECK(shmregion_created(r) == 1);
    CHECK_OK(shmregion_detach(r));
    CHECK_OK(shmregion_unlink(home, name, 0));

    CHECK_RC(shmregion_attach(NULL, &r), -EINVAL);
    CHECK_RC(shmregion_attach(&o, NULL), -EINVAL);

    /* NULL handles. */
    CHECK_OK(shmregion_detach(NULL));
    CHECK(shmregion_data(NULL) == NULL);
    CHECK(shmregion_size(NULL) == 0 && shmregion_max_size(NULL) == 0 && shmregion_created(NULL) == 0);
    CHECK(shmregion_backing(NULL) == SHMREGION_BACKING_ANY);
    CHECK(strcmp(shmregion_name(NULL), "") == 0 && strcmp(shmregion_file(NULL), "") == 0);
    CHECK_RC(shmregion_lock(NULL), -EINVAL);
    CHECK_MESSAGE("NULL");
    CHECK_RC(shmregion_unlock(NULL), -EINVAL);
    CHECK_RC(shmregion_grow(NULL, 1), -EINVAL);
    CHECK_RC(shmregion_refresh(NULL, NULL), -EINVAL);
    CHECK_RC(shmregion_flush(NULL), -EINVAL);
    CHECK_RC(shmregion_prefault(NULL), -EINVAL);
    CHECK_RC(shmregion_prefault_wait(NULL), -EINVAL);
    CHECK_RC(shmregion_mark_for_removal(NULL), -EINVAL);
    CHECK_RC(shmregion_reap_dead_attachers(NULL, NULL), -EINVAL);
    CHECK_RC(shmregion_join_after_fork(NULL), -EINVAL);

    /* Handle-less calls. */
    CHECK_RC(shmregion_unlink(home, name, 0), SHMREGION_ENOT_FOUND);
    CHECK_MESSAGE(name);
    CHECK_RC(shmregion_unlink(home, name, SHMREGION_UNLINK_FORCE), SHMREGION_ENOT_FOUND);
    CHECK_RC(shmregion_unlink(home, name, 64), SHMREGION_EINVALID_OPTIONS);
    CHECK_MESSAGE("flags");
    CHECK_RC(shmregion_unlink(home, "bad/name", 0), SHMREGION_EINVALID_NAME);
    {
        shmregion_info info;
        char** names = (char**)&info;
        size_t n = 5;
        CHECK_RC(shmregion_inspect(home, name, &info, sizeof info), SHMREGION_ENOT_FOUND);
        CHECK_RC(shmregion_inspect(home, name, &info, 8), -EINVAL);
        CHECK_MESSAGE("info_size");
        CHECK_RC(shmregion_inspect(home, name, NULL, sizeof info), -EINVAL);
        CHECK(shmregion_list("/nonexistent/shmregion-c-test", &names, &n) < 0);
        CHECK(names == NULL && n == 0);
        CHECK_RC(shmregion_list(home, NULL, NULL), -EINVAL);
        shmregion_list_free(NULL);
    }
}

/* ---- a named region across processes -------------------------------------------------- */

static void test_named(int backing) {
    shmregion_options o;
    shmregion_region* r = NULL;
    shmregion_region* second = NULL;
    shmregion_info info;
    char name[64];
    unsigned char* p;
    int to_child[2], to_parent[2], changed = -1;
    pid_t pid;
    size_t dropped = 99;

    options(&o, unique_name(name, sizeof name), backing);
    o.open_mode = SHMREGION_CREATE_ONLY;
    CHECK_OK(shmregion_attach(&o, &r));
    CHECK(r != NULL);
    CHECK(shmregion_created(r) == 1);
    CHECK(shmregion_backing(r) == backing);
    CHECK(strcmp(shmregion_name(r), name) == 0);
    CHECK(strstr(shmregion_file(r), name) != NULL);
    CHECK(shmregion_size(r) == 64 * 1024);
    CHECK(shmregion_max_size(r) == 1024 * 1024);
    p = (unsigned char*)shmregion_data(r);
    CHECK(p != NULL);
    CHECK(((size_t)p % 4096) == 0);
    CHECK(p[0] == 0 && p[64 * 1024 - 1] == 0);
    memcpy(p, "hello from the parent", 22);
    CHECK(in_list(name));

    /* Exclusive creation; a second attach of the same process joins. */
    CHECK_RC(shmregion_attach(&o, &second), SHMREGION_EEXISTS);
    CHECK_MESSAGE(name);
    o.open_mode = SHMREGION_JOIN_ONLY;
    o.backing = backing == SHMREGION_BACKING_FILE ? SHMREGION_BACKING_POSIX : SHMREGION_BACKING_FILE;
    CHECK_RC(shmregion_attach(&o, &second), SHMREGION_EBACKING_MISMATCH);
    o.backing = SHMREGION_BACKING_ANY;
    CHECK_OK(shmregion_attach(&o, &second));
    CHECK(shmregion_created(second) == 0);
    CHECK(memcmp(shmregion_data(second), "hello from the parent", 22) == 0);

    /* Inspect: two attachers, the lock free, then held by us. */
    memset(&info, 0xff, sizeof info);
    CHECK_OK(shmregion_inspect(home, name, &info, sizeof info));
    CHECK(info.struct_size == sizeof info);
    CHECK(info.backing == backing);
    CHECK(info.valid == 1);
    CHECK(info.size == 64 * 1024);
    CHECK(info.max_size == 1024 * 1024);
    CHECK(info.region_size == info.size + info.header_size);
    CHECK(info.backing_size >= info.region_size);
    CHECK(info.page_size >= 4096);
    CHECK(info.ref_count == 2);
    CHECK(info.attachers == 2 && info.live_attachers == 2);
    CHECK(info.max_attachers == 128);
    CHECK(info.lock_state == SHMREGION_LOCK_FREE && info.lock_holder == 0);
    CHECK(info.creator_pid == getpid());
    CHECK(info.creator_uid == (uint32_t)geteuid());
    CHECK(info.created_at_ns > 0);
    CHECK(info.unlink_requested == 0 && info.remove_on_last_detach == 0 && info.grow_in_progress == 0);
    CHECK(info.owner_died_unreported == 0);
    if (backing == SHMREGION_BACKING_POSIX)
        CHECK(strncmp(info.segment, "/shmregion.", 11) == 0);
    else
        CHECK(info.segment[0] == '\0');
    CHECK_OK(shmregion_detach(second));
    second = NULL;

    /* Lock and unlock, and their errors. */
    CHECK_OK(shmregion_lock(r));
    CHECK_OK(shmregion_inspect(home, name, &info, sizeof info));
    CHECK(info.lock_state == SHMREGION_LOCK_HELD);
    CHECK(info.lock_holder == getpid());
    CHECK_RC(shmregion_lock(r), -EDEADLK);
    CHECK_OK(shmregion_unlock(r));
    CHECK_RC(shmregion_unlock(r), -EPERM);
    CHECK_MESSAGE("unlock");
    CHECK_MESSAGE(name);

    /* A child joins by name, reads the parent's bytes, answers; then sees growth by refresh. */
    if (pipe(to_child) != 0 || pipe(to_parent) != 0) FAIL("pipe: %s", strerror(errno));
    pid = start_child();
    if (pid == 0) {
        shmregion_region* c = NULL;
        unsigned char* q;
        close(to_child[1]);
        close(to_parent[0]);
        options(&o, name, SHMREGION_BACKING_ANY);
        o.open_mode = SHMREGION_JOIN_ONLY;
        CHECK_OK(shmregion_attach(&o, &c));
        CHECK(shmregion_created(c) == 0);
        q = (unsigned char*)shmregion_data(c);
        CHECK(memcmp(q, "hello from the parent", 22) == 0);
        memcpy(q + 100, "hello from the child", 21);
        put(to_parent[1], 'j');
        CHECK(get(to_child[0]) == 'g'); /* the parent grew it */
        CHECK(shmregion_size(c) == 64 * 1024);
        CHECK_OK(shmregion_refresh(c, &changed));
        CHECK(changed == 1);
        CHECK(shmregion_size(c) == 256 * 1024);
        CHECK(shmregion_data(c) == q); /* in place */
        CHECK(q[200 * 1024] == 0x5a);
        CHECK_OK(shmregion_refresh(c, &changed));
        CHECK(changed == 0);
        CHECK_OK(shmregion_lock(c));
        q[200 * 1024 + 1] = 0xa5;
        CHECK_OK(shmregion_unlock(c));
        CHECK_OK(shmregion_detach(c));
        _exit(0);
    }
    close(to_child[0]);
    close(to_parent[1]);
    CHECK(get(to_parent[0]) == 'j');
    CHECK(memcmp(p + 100, "hello from the child", 21) == 0);
    CHECK_RC(shmregion_grow(r, 2 * 1024 * 1024), SHMREGION_EINVALID_SIZE);
    CHECK_MESSAGE("grow");
    CHECK_OK(shmregion_grow(r, 256 * 1024));
    CHECK(shmregion_size(r) == 256 * 1024);
    CHECK((unsigned char*)shmregion_data(r) == p);
    CHECK_OK(shmregion_grow(r, 1000)); /* smaller: a no-op */
    CHECK(shmregion_size(r) == 256 * 1024);
    p[200 * 1024] = 0x5a;
    put(to_child[1], 'g');
    CHECK_RC(wait_child(pid), 0);
    close(to_child[1]);
    close(to_parent[0]);
    CHECK_OK(shmregion_lock(r));
    CHECK(p[200 * 1024 + 1] == 0xa5);
    CHECK_OK(shmregion_unlock(r));
    CHECK_OK(shmregion_inspect(home, name, &info, sizeof info));
    CHECK(info.size == 256 * 1024 && info.generation >= 1);
    CHECK(info.ref_count == 1 && info.live_attachers == 1);

    CHECK_OK(shmregion_flush(r));
    CHECK_OK(shmregion_prefault(r));
    CHECK_OK(shmregion_prefault_wait(r)); /* none running */
    CHECK_OK(shmregion_reap_dead_attachers(r, &dropped));
    CHECK(dropped == 0);
    CHECK(p[200 * 1024] == 0x5a); /* prefault wrote nothing */

    /* A lock holder killed with SIGKILL: the next lock reports it, and so does every lock
     * after it until a holder marks the lock consistent. */
    if (pipe(to_parent) != 0) FAIL("pipe: %s", strerror(errno));
    pid = start_child();
    if (pid == 0) {
        shmregion_region* c = NULL;
        close(to_parent[0]);
        options(&o, name, SHMREGION_BACKING_ANY);
        o.open_mode = SHMREGION_JOIN_ONLY;
        CHECK_OK(shmregion_attach(&o, &c));
        CHECK_OK(shmregion_lock(c));
        ((unsigned char*)shmregion_data(c))[5] = 'X'; /* half an update */
        put(to_parent[1], 'l');
        for (;;) pause(); /* killed here, holding the lock */
    }
    close(to_parent[1]);
    CHECK(get(to_parent[0]) == 'l');
    close(to_parent[0]);
    kill(pid, SIGKILL);
    CHECK_RC(wait_child(pid), -SIGKILL);
    CHECK_OK(shmregion_inspect(home, name, &info, sizeof info));
    CHECK(info.lock_state == SHMREGION_LOCK_OWNER_DEAD);
    CHECK(info.lock_holder == 0); /* the kernel cleared the dead owner's thread id */
    CHECK(info.live_attachers == 1 && info.attachers == 2);
    CHECK_RC(shmregion_lock(r), SHMREGION_OWNER_DIED);
    CHECK(p[5] == 'X');
    CHECK_OK(shmregion_unlock(r));
    CHECK_RC(shmregion_lock(r), SHMREGION_OWNER_DIED); /* not marked consistent: still reported */
    CHECK_OK(shmregion_unlock(r));
    CHECK_OK(shmregion_inspect(home, name, &info, sizeof info));
    CHECK(info.lock_state == SHMREGION_LOCK_FREE);
    CHECK(info.owner_died_unreported == 1);
    CHECK(info.lock_deaths == 1);
    CHECK_RC(shmregion_mark_consistent(r, SHMREGION_REGION_LOCK), -EPERM); /* not held */
    CHECK_RC(shmregion_try_lock_for(r, 1000000000), SHMREGION_OWNER_DIED);
    CHECK_OK(shmregion_mark_consistent(r, SHMREGION_REGION_LOCK));
    CHECK_OK(shmregion_unlock(r));
    CHECK_OK(shmregion_lock(r));
    CHECK_OK(shmregion_unlock(r));
    CHECK_OK(shmregion_inspect(home, name, &info, sizeof info));
    CHECK(info.owner_died_unreported == 0 && info.lock_deaths == 1);
    CHECK(info.ref_count == 1 && info.attachers == 1);
    CHECK_OK(shmregion_reap_dead_attachers(r, &dropped));
    CHECK(dropped == 0);

    /* Gentle unlink while attached: marked, no new joins, gone at the last detach. */
    CHECK_OK(shmregion_unlink(home, name, 0));
    CHECK_OK(shmregion_inspect(home, name, &info, sizeof info));
    CHECK(info.unlink_requested == 1 && info.remove_on_last_detach == 1);
    options(&o, name, SHMREGION_BACKING_ANY);
    o.open_mode = SHMREGION_JOIN_ONLY;
    o.join_timeout_ms = 100;
    CHECK(shmregion_attach(&o, &second) < 0);
    CHECK(second == NULL);
    CHECK(in_list(name));
    CHECK_OK(shmregion_detach(r));
    CHECK_RC(shmregion_inspect(home, name, &info, sizeof info), SHMREGION_ENOT_FOUND);
    CHECK(!in_list(name));

    /* Forced unlink of a region someone is attached to: its file goes at once, the attacher
     * keeps its memory until it detaches. */
    options(&o, unique_name(name, sizeof name), backing);
    CHECK_OK(shmregion_attach(&o, &r));
    p = (unsigned char*)shmregion_data(r);
    p[1] = 7;
    CHECK_OK(shmregion_unlink(home, name, SHMREGION_UNLINK_FORCE));
    CHECK_RC(shmregion_inspect(home, name, &info, sizeof info), SHMREGION_ENOT_FOUND);
    CHECK(!in_list(name));
    CHECK(p[1] == 7);
    shmregion_detach(r); /* may report what the forced unlink already removed */

    /* mark_for_removal, and remove_on_last_detach. */
    options(&o, unique_name(name, sizeof name), backing);
    CHECK_OK(shmregion_attach(&o, &r));
    CHECK_OK(shmregion_mark_for_removal(r));
    CHECK_OK(shmregion_inspect(home, name, &info, sizeof info));
    CHECK(info.unlink_requested == 1);
    CHECK_OK(shmregion_detach(r));
    CHECK(!in_list(name));
    options(&o, unique_name(name, sizeof name), backing);
    o.remove_on_last_detach = 1;
    o.prefault = SHMREGION_PREFAULT_BACKGROUND;
    o.io_engine = SHMREGION_ENGINE_SYNC;
    o.max_attachers = 4;
    o.permissions = 0640;
    CHECK_OK(shmregion_attach(&o, &r));
    CHECK_OK(shmregion_prefault_wait(r));
    {
        struct stat st;
        CHECK(stat(shmregion_file(r), &st) == 0);
        CHECK((st.st_mode & 0777) == 0640);
    }
    CHECK_OK(shmregion_inspect(home, name, &info, sizeof info));
    CHECK(info.remove_on_last_detach_option == 1 && info.unlink_requested == 0);
    CHECK(info.max_attachers == 4);
    CHECK_OK(shmregion_detach(r));
    CHECK(!in_list(name));
}

/* System V: attach, share with a child, and growth refused. */
/* The lock table from C: exclusive, shared, try and timed forms, owner death and
 * mark_consistent, identity and liveness, bad indexes. */
/* Another thread's unlocks (test_lock_table): an exclusive lock belongs to the thread that
 * took it, so its unlocks are refused and the locks stay held; a share may go from any. */
static void* unlock_from_another_thread(void* arg) {
    shmregion_region* r = (shmregion_region*)arg;
    static int results[3];
    results[0] = shmregion_unlock_index(r, 0);
    results[1] = shmregion_unlock(r);
    results[2] = shmregion_unlock_shared(r, 1);
    return results;
}

static void test_lock_table(void) {
    char name[64];
    shmregion_options o;
    shmregion_region* r = NULL;
    shmregion_info info;
    uint32_t slot = 99, gen = 0;
    int to_parent[2];
    pid_t pid;
    options(&o, unique_name(name, sizeof name), SHMREGION_BACKING_FILE);
    o.locks = 4;
    CHECK_OK(shmregion_attach(&o, &r));
    CHECK(shmregion_lock_count(r) == 4);
    CHECK_OK(shmregion_inspect(home, name, &info, sizeof info));
    CHECK(info.lock_count == 4 && info.lock_deaths == 0);

    CHECK_OK(shmregion_lock_index(r, 0));
    CHECK_RC(shmregion_lock_index(r, 0), -EDEADLK);
    CHECK_OK(shmregion_unlock_index(r, 0));
    CHECK_RC(shmregion_unlock_index(r, 0), -EPERM);
    CHECK_RC(shmregion_lock_index(r, 4), -EINVAL);
    CHECK_MESSAGE("lock index 4");
    CHECK_RC(shmregion_lock_shared(r, 7), -EINVAL);
    CHECK_OK(shmregion_lock_shared(r, 1));
    CHECK_OK(shmregion_try_lock_shared(r, 1)); /* a share more, at once */
    CHECK_RC(shmregion_try_lock_index(r, 1), -EDEADLK); /* no upgrade */
    CHECK_OK(shmregion_unlock_shared(r, 1));
    CHECK_OK(shmregion_unlock_shared(r, 1));
    CHECK_RC(shmregion_unlock_shared(r, 1), -EPERM);
    {
        pthread_t t;
        void* out = NULL;
        const int* results;
        CHECK_OK(shmregion_lock_index(r, 0));
        CHECK_OK(shmregion_lock(r));
        CHECK_OK(shmregion_lock_shared(r, 1));
        CHECK(pthread_create(&t, NULL, unlock_from_another_thread, r) == 0);
        CHECK(pthread_join(t, &out) == 0);
        results = (const int*)out;
        CHECK(results[0] == -EPERM && results[1] == -EPERM && results[2] == 0);
        CHECK_RC(shmregion_lock_index(r, 0), -EDEADLK); /* still held, still r's */
        CHECK_RC(shmregion_try_lock_index(r, 1), 0);    /* the share went */
        CHECK_OK(shmregion_unlock_index(r, 1));
        CHECK_OK(shmregion_unlock_index(r, 0));
        CHECK_OK(shmregion_unlock(r));
    }
    CHECK_OK(shmregion_identity(r, &slot, &gen));
    CHECK(slot == 0 && gen != 0);
    CHECK(shmregion_alive(r, slot, gen) == 1);
    CHECK(shmregion_alive(r, slot, gen + 1) == 0);

    /* Another process holds lock 2 exclusively and lock 3 shared, then is killed. */
    if (pipe(to_parent) != 0) FAIL("pipe: %s", strerror(errno));
    pid = start_child();
    if (pid == 0) {
        shmregion_region* c = NULL;
        uint32_t cs = 0, cg = 0;
        close(to_parent[0]);
        options(&o, name, SHMREGION_BACKING_ANY);
        o.open_mode = SHMREGION_JOIN_ONLY;
        CHECK_OK(shmregion_attach(&o, &c));
        CHECK_OK(shmregion_lock_index(c, 2));
        CHECK_OK(shmregion_lock_shared(c, 3));
        CHECK_OK(shmregion_identity(c, &cs, &cg));
        if (write(to_parent[1], &cs, sizeof cs) != sizeof cs || write(to_parent[1], &cg, sizeof cg) != sizeof cg) _exit(20);
        for (;;) pause();
    }
    close(to_parent[1]);
    {
        uint32_t cs = 0, cg = 0;
        CHECK(read(to_parent[0], &cs, sizeof cs) == sizeof cs && read(to_parent[0], &cg, sizeof cg) == sizeof cg);
        close(to_parent[0]);
        CHECK(shmregion_alive(r, cs, cg) == 1);
        CHECK_RC(shmregion_try_lock_index(r, 2), -EBUSY);
        CHECK_RC(shmregion_try_lock_index_for(r, 2, 20000000), -ETIMEDOUT);
        CHECK_RC(shmregion_try_lock_shared(r, 2), -EBUSY);
        CHECK_RC(shmregion_try_lock_index(r, 3), -EBUSY); /* shared by the child */
        CHECK_OK(shmregion_lock_shared(r, 3));
        CHECK_OK(shmregion_unlock_shared(r, 3));
        kill(pid, SIGKILL);
        CHECK_RC(wait_child(pid), -SIGKILL);
        CHECK(shmregion_alive(r, cs, cg) == 0);
    }
    CHECK_RC(shmregion_lock_shared(r, 2), SHMREGION_OWNER_DIED);
    CHECK_RC(shmregion_try_lock_index_for(r, 2, 1000000000), -EDEADLK); /* r holds a share */
    CHECK_OK(shmregion_mark_consistent(r, 2));
    CHECK_OK(shmregion_unlock_shared(r, 2));
    CHECK_OK(shmregion_lock_index(r, 2));
    CHECK_OK(shmregion_unlock_index(r, 2));
    /* The dead child's share of lock 3 is released for a writer. */
    CHECK_OK(shmregion_try_lock_index_for(r, 3, 5000000000LL));
    CHECK_OK(shmregion_unlock_index(r, 3));
    CHECK_RC(shmregion_mark_consistent(r, 3), -EPERM);
    CHECK_OK(shmregion_lock_index(r, 1)); /* released by the detach */
    CHECK_OK(shmregion_lock_shared(r, 0));
    CHECK_OK(shmregion_mark_for_removal(r));
    CHECK_OK(shmregion_detach(r));
    CHECK(!in_list(name));
}

static void test_sysv(void) {
    shmregion_options o;
    shmregion_region* r = NULL;
    shmregion_info info;
    char name[64];
    int rc;
    options(&o, unique_name(name, sizeof name), SHMREGION_BACKING_SYSV);
    o.max_size = 0;
    rc = shmregion_attach(&o, &r);
    if (rc == -ENOSYS || rc == -EPERM || rc == -EACCES) {
        printf("note: System V shared memory unavailable here (%s): skipped\n", shmregion_strerror(rc));
        return;
    }
    CHECK_OK(rc);
    CHECK_OK(shmregion_inspect(home, name, &info, sizeof info));
    CHECK(info.backing == SHMREGION_BACKING_SYSV && info.sysv_id >= 0);
    CHECK_RC(shmregion_grow(r, 256 * 1024), SHMREGION_ENOT_GROWABLE);
    CHECK_MESSAGE("grow");
    CHECK_OK(shmregion_detach(r));
    CHECK_OK(shmregion_unlink(home, name, 0));
    CHECK(!in_list(name));
}

/* Anonymous: shared with a fork()ed child through the inherited handle. */
static void test_anonymous(void) {
    shmregion_options o;
    shmregion_region* r = NULL;
    char name[64];
    unsigned char* p;
    pid_t pid;
    options(&o, unique_name(name, sizeof name), SHMREGION_BACKING_ANONYMOUS);
    o.home = NULL;
    o.max_size = 0; /* anonymous regions cannot grow: the ceiling is the size */
    CHECK_OK(shmregion_attach(&o, &r));
    CHECK(strcmp(shmregion_file(r), "") == 0);
    CHECK_RC(shmregion_grow(r, 256 * 1024), SHMREGION_ENOT_GROWABLE);
    p = (unsigned char*)shmregion_data(r);
    pid = start_child();
    if (pid == 0) {
        CHECK_RC(shmregion_lock(r), SHMREGION_EWRONG_PROCESS);
        CHECK_MESSAGE("join_after_fork");
        CHECK_OK(shmregion_join_after_fork(r));
        CHECK_OK(shmregion_lock(r));
        memcpy(p, "anonymous child", 16);
        CHECK_OK(shmregion_unlock(r));
        CHECK_OK(shmregion_detach(r));
        _exit(0);
    }
    CHECK_RC(wait_child(pid), 0);
    CHECK(memcmp(p, "anonymous child", 16) == 0);
    CHECK_OK(shmregion_detach(r));

    /* heap: this process only. */
    options(&o, unique_name(name, sizeof name), SHMREGION_BACKING_HEAP);
    o.home = NULL;
    CHECK_OK(shmregion_attach(&o, &r));
    CHECK(shmregion_backing(r) == SHMREGION_BACKING_HEAP);
    CHECK_OK(shmregion_grow(r, 128 * 1024));
    CHECK(shmregion_size(r) == 128 * 1024);
    CHECK_OK(shmregion_detach(r));
}

int main(void) {
    const char* tmp = getenv("TMPDIR");
    struct stat st;
    parent_pid = getpid();
    snprintf(home, sizeof home, "%s/shmregion-test-c-%ld", tmp && *tmp ? tmp : "/tmp", (long)getpid());
    if (mkdir(home, 0700) != 0) {
        printf("SKIP: cannot make the test home %s: %s\n", home, strerror(errno));
        home[0] = '\0';
        return 77;
    }
    atexit(cleanup);

    test_codes();
    test_options();
    test_attach_errors();
    test_named(SHMREGION_BACKING_FILE);
    if (stat("/dev/shm", &st) == 0)
        test_named(SHMREGION_BACKING_POSIX);
    else
        printf("note: no /dev/shm: the POSIX backing skipped\n");
    test_lock_table();
    test_sysv();
    test_anonymous();
    {
        size_t n = 99;
        char** names = NULL;
        CHECK_OK(shmregion_list(home, &names, &n));
        CHECK(n == 0 && names != NULL && names[0] == NULL);
        shmregion_list_free(names);
    }
    printf("test_c_api: %d checks passed (library %s)\n", checks, shmregion_version());
    return 0;
}
