/* A C program of a user of the installed shmregion: only <shmregion/shmregion.h>, linked
 * through pkg-config against the installed library, shared and static
 * (test/install/check_install.sh). Attach, write, lock, inspect, an error with its message,
 * unlink.
 *   consumer-c HOME */
#include <shmregion/shmregion.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char** argv) {
    shmregion_options o;
    shmregion_region* r = NULL;
    shmregion_info info;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: consumer-c HOME\n");
        return 2;
    }
    shmregion_options_init(&o);
    o.home = argv[1];
    o.name = "consumer-c";
    o.backing = SHMREGION_BACKING_POSIX;
    o.size = 1 << 16;
    rc = shmregion_attach(&o, &r);
    if (rc < 0) {
        fprintf(stderr, "attach: %s\n", shmregion_last_error());
        return 1;
    }
    rc = shmregion_lock(r);
    if (rc < 0) {
        fprintf(stderr, "lock: %s\n", shmregion_last_error());
        return 1;
    }
    memcpy(shmregion_data(r), "hello", 6);
    shmregion_unlock(r);
    rc = shmregion_inspect(argv[1], "consumer-c", &info, sizeof info);
    if (rc < 0 || info.ref_count != 1) {
        fprintf(stderr, "inspect: %d %s\n", rc, shmregion_last_error());
        return 1;
    }
    shmregion_detach(r);
    if (shmregion_unlink(argv[1], "consumer-c", SHMREGION_UNLINK_FORCE) < 0) {
        fprintf(stderr, "unlink: %s\n", shmregion_last_error());
        return 1;
    }
    /* An error: the code, its meaning, and the message naming the region. */
    rc = shmregion_inspect(argv[1], "consumer-c", &info, sizeof info);
    if (rc != SHMREGION_ENOT_FOUND || strstr(shmregion_last_error(), "consumer-c") == NULL) {
        fprintf(stderr, "inspect of a removed region: %d (%s): %s\n", rc, shmregion_strerror(rc),
                shmregion_last_error());
        return 1;
    }
    printf("shmregion %s (C): ok\n", shmregion_version());
    return 0;
}
