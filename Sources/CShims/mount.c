// Loop devices, mounts and the cleanup that must still run when SIGINT, SIGTERM or SIGHUP ends
// the process: the calls Swift cannot make (ioctl, fcntl, unshare) or must not make (anything in
// a signal handler).
#define _GNU_SOURCE
#include "CShims.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <unistd.h>

#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
struct loop_config {
    uint32_t fd;
    uint32_t block_size;
    struct loop_info64 info;
    uint64_t reserved[8];
};
#endif

// MARK: Loop devices

// Configures the open loop device `loop_fd` on `backing_fd`: LOOP_CONFIGURE (Linux 5.8+) in one
// step, or LOOP_SET_FD then LOOP_SET_STATUS64 on older kernels.
static int configure_loop(int loop_fd, int backing_fd, uint64_t offset, uint64_t size_limit, int read_only) {
    struct loop_info64 info;
    memset(&info, 0, sizeof info);
    info.lo_offset = offset;
    info.lo_sizelimit = size_limit;
    // Autoclear: the kernel detaches the device when its last user closes it, so a process killed
    // with SIGKILL leaves no loop device behind once its mounts are gone.
    info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);

    struct loop_config config;
    memset(&config, 0, sizeof config);
    config.fd = (uint32_t)backing_fd;
    config.info = info;
    if (ioctl(loop_fd, LOOP_CONFIGURE, &config) == 0) return 0;
    if (errno != EINVAL && errno != ENOTTY) return -1;

    if (ioctl(loop_fd, LOOP_SET_FD, backing_fd) < 0) return -1;
    info.lo_flags &= ~LO_FLAGS_READ_ONLY;  // set from the descriptors' modes by LOOP_SET_FD
    if (ioctl(loop_fd, LOOP_SET_STATUS64, &info) < 0) {
        int saved = errno;
        ioctl(loop_fd, LOOP_CLR_FD, 0);
        errno = saved;
        return -1;
    }
    return 0;
}

int sc_loop_attach(int backing_fd, uint64_t offset, uint64_t size_limit, int read_only, int *number) {
    int control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (control < 0) return -1;
    // Another process may take the free device between LOOP_CTL_GET_FREE and LOOP_CONFIGURE
    // (EBUSY): ask for the next free one.
    for (int attempt = 0; attempt < 64; attempt++) {
        int free_number = ioctl(control, LOOP_CTL_GET_FREE);
        if (free_number < 0) break;
        char path[32];
        snprintf(path, sizeof path, "/dev/loop%d", free_number);
        int loop_fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);
        if (loop_fd < 0) break;
        if (configure_loop(loop_fd, backing_fd, offset, size_limit, read_only) == 0) {
            close(control);
            *number = free_number;
            return loop_fd;
        }
        int saved = errno;
        close(loop_fd);
        errno = saved;
        if (saved != EBUSY) break;
    }
    int saved = errno;
    close(control);
    errno = saved;
    return -1;
}

int sc_loop_clear(int loop_fd) {
    if (ioctl(loop_fd, LOOP_CLR_FD, 0) == 0 || errno == ENXIO) return 0;
    return -1;
}

int sc_lock_whole_file(int fd, int exclusive) {
    struct flock lock;
    memset(&lock, 0, sizeof lock);
    lock.l_type = exclusive ? F_WRLCK : F_RDLCK;
    lock.l_whence = SEEK_SET;
    return fcntl(fd, F_OFD_SETLK, &lock);
}

// MARK: Mounts

int sc_detach_mount_namespace(void) {
    if (unshare(CLONE_NEWNS) < 0) return -1;
    // Slave, not private: the host's later unmounts still reach this namespace, so it never pins
    // a host filesystem busy; our own mounts never travel back.
    return mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL);
}

int sc_mount_filesystem(const char *source, const char *target, const char *type, int read_only, const char *options) {
    unsigned long flags = MS_NOSUID | MS_NODEV | (read_only ? MS_RDONLY : 0);
    return mount(source, target, type, flags, options);
}

int sc_unmount(const char *path, int lazily_if_busy) {
    if (umount2(path, UMOUNT_NOFOLLOW) == 0) return 0;
    if (errno != EBUSY || !lazily_if_busy) return -1;
    return umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW);
}

// MARK: Cleanup on SIGINT, SIGTERM, SIGHUP

// A slot goes FREE → FILLING → READY when registered; the cleanup takes a READY slot to
// CLEANING, undoes it, and leaves it DONE; its owner frees it (READY or DONE → FREE).
enum { SLOT_FREE, SLOT_FILLING, SLOT_READY, SLOT_CLEANING, SLOT_DONE };
enum { KIND_MOUNT, KIND_LOOP };

struct cleanup_slot {
    _Atomic int state;
    int kind;
    int fd;
    int remove_directory;
    unsigned long order;
    char path[4096];
};

#define CLEANUP_SLOTS 64
static struct cleanup_slot slots[CLEANUP_SLOTS];
static _Atomic unsigned long next_order = 1;
static _Atomic int handlers_installed = 0;
static const int cleanup_signals[] = { SIGINT, SIGTERM, SIGHUP };

static int add_slot(int kind, int fd, const char *path, int remove_directory) {
    if (path && strlen(path) >= sizeof slots[0].path) { errno = ENAMETOOLONG; return -1; }
    for (int i = 0; i < CLEANUP_SLOTS; i++) {
        int expected = SLOT_FREE;
        if (!atomic_compare_exchange_strong(&slots[i].state, &expected, SLOT_FILLING)) continue;
        slots[i].kind = kind;
        slots[i].fd = fd;
        slots[i].remove_directory = remove_directory;
        slots[i].order = atomic_fetch_add(&next_order, 1);
        if (path) strcpy(slots[i].path, path); else slots[i].path[0] = 0;
        atomic_store(&slots[i].state, SLOT_READY);
        return i;
    }
    errno = ENOSPC;
    return -1;
}

int sc_cleanup_add_mount(const char *path, int remove_directory) {
    return add_slot(KIND_MOUNT, -1, path, remove_directory);
}

int sc_cleanup_add_loop(int loop_fd) {
    return add_slot(KIND_LOOP, loop_fd, NULL, 0);
}

int sc_cleanup_remove(int slot) {
    if (slot < 0 || slot >= CLEANUP_SLOTS) return 0;
    int expected = SLOT_READY;
    if (atomic_compare_exchange_strong(&slots[slot].state, &expected, SLOT_FREE)) return 1;
    // Undone by the cleanup (or being undone: that slot stays taken, in a process about to end).
    expected = SLOT_DONE;
    atomic_compare_exchange_strong(&slots[slot].state, &expected, SLOT_FREE);
    return 0;
}

// Claims the ready slot of `kind` registered last (mounts below a mount come after it, so they
// are unmounted first); -1 when none is left.
static int claim_newest(int kind) {
    for (;;) {
        int newest = -1;
        for (int i = 0; i < CLEANUP_SLOTS; i++) {
            if (atomic_load(&slots[i].state) != SLOT_READY || slots[i].kind != kind) continue;
            if (newest < 0 || slots[i].order > slots[newest].order) newest = i;
        }
        if (newest < 0) return -1;
        int expected = SLOT_READY;
        if (atomic_compare_exchange_strong(&slots[newest].state, &expected, SLOT_CLEANING)) return newest;
    }
}

// Only system calls (umount2, rmdir, ioctl), all async-signal-safe: this runs in a signal handler.
void sc_cleanup_run(void) {
    int saved = errno;
    int slot;
    while ((slot = claim_newest(KIND_MOUNT)) >= 0) {
        sc_unmount(slots[slot].path, 1);
        if (slots[slot].remove_directory) rmdir(slots[slot].path);
        atomic_store(&slots[slot].state, SLOT_DONE);
    }
    while ((slot = claim_newest(KIND_LOOP)) >= 0) {
        // Flushed first: LOOP_CLR_FD from the only opener stops the device at once, and a write
        // still in its page cache would be lost. Recent kernels only mark the device for
        // autoclear here; closing our descriptor, its last user once the mounts are gone,
        // detaches it.
        fsync(slots[slot].fd);
        sc_loop_clear(slots[slot].fd);
        close(slots[slot].fd);
        atomic_store(&slots[slot].state, SLOT_DONE);
    }
    errno = saved;
}

static void cleanup_and_die(int signal_number) {
    sc_cleanup_run();
    // Die of the same signal, as if we had never caught it: the parent sees the usual status.
    struct sigaction fallback;
    memset(&fallback, 0, sizeof fallback);
    fallback.sa_handler = SIG_DFL;
    sigemptyset(&fallback.sa_mask);
    sigaction(signal_number, &fallback, NULL);
    raise(signal_number);  // delivered when the handler returns and the signal is unblocked
}

int sc_cleanup_install_signal_handlers(void) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&handlers_installed, &expected, 1)) return 0;
    int installed = 0;
    for (int i = 0; i < 3; i++) {
        struct sigaction previous;
        if (sigaction(cleanup_signals[i], NULL, &previous) < 0) continue;
        // A signal someone else already handles or ignores is theirs: they decide whether the
        // process ends, and tearing the devices down under a process that goes on would break it.
        if ((previous.sa_flags & SA_SIGINFO) || previous.sa_handler != SIG_DFL) continue;
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_handler = cleanup_and_die;
        sigfillset(&action.sa_mask);  // no second signal interrupts a cleanup half done
        if (sigaction(cleanup_signals[i], &action, NULL) == 0) installed++;
    }
    return installed;
}
