#define _GNU_SOURCE
#include "CShims.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/random.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

struct sc_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

int sc_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct sc_open_how how = { .flags = flags, .mode = mode, .resolve = resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int sc_inode_flags(int fd, long *flags) {
    int value = 0;
    int r = ioctl(fd, FS_IOC_GETFLAGS, &value);
    *flags = value;
    return r;
}

int sc_flags_forbid_change(long flags) {
    return (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL)) != 0;
}

int sc_errno(void) { return errno; }

int sc_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int sc_random_bytes(void *buffer, size_t length) {
    size_t done = 0;
    while (done < length) {
        ssize_t n = getrandom((char *)buffer + done, length - done, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

int sc_permanent_mac(const char *name, unsigned char *out) {
    /* struct ethtool_perm_addr ends in a flexible array: room for 32 address bytes after it. */
    union {
        struct ethtool_perm_addr header;
        unsigned char bytes[sizeof(struct ethtool_perm_addr) + 32];
    } request;
    struct ifreq ifr;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    memset(&request, 0, sizeof request);
    memset(&ifr, 0, sizeof ifr);
    request.header.cmd = ETHTOOL_GPERMADDR;
    request.header.size = 32;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    ifr.ifr_data = (void *)&request;
    int r = ioctl(fd, SIOCETHTOOL, &ifr);
    int saved = errno;
    close(fd);
    if (r < 0) { errno = saved; return -1; }
    if (request.header.size > 32) request.header.size = 32;
    memcpy(out, request.header.data, request.header.size);
    return (int)request.header.size;
}

int sc_detach_mount(const char *path) { return umount2(path, MNT_DETACH); }

int sc_start_writeback(int fd) { return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE); }

int sc_renameat_noreplace(int old_directory, const char *old_name, int new_directory, const char *new_name) {
    return (int)syscall(SYS_renameat2, old_directory, old_name, new_directory, new_name, RENAME_NOREPLACE);
}
