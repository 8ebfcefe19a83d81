#ifndef SANITIZE_CLONE_SHIMS_H
#define SANITIZE_CLONE_SHIMS_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/xattr.h>

/// Flags of openat2(2)'s `struct open_how.resolve` (linux/openat2.h).
#define SC_RESOLVE_NO_XDEV       0x01
#define SC_RESOLVE_NO_MAGICLINKS 0x02
#define SC_RESOLVE_NO_SYMLINKS   0x04
#define SC_RESOLVE_BENEATH       0x08
#define SC_RESOLVE_IN_ROOT       0x10

/// O_PATH from fcntl.h, hidden from Swift without _GNU_SOURCE.
#define SC_O_PATH 010000000

/// openat2(2) through syscall(2), which Swift cannot call because it is variadic.
/// Returns the new descriptor or -1 with errno set.
int sc_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

/// The inode flags of an open file (FS_IOC_GETFLAGS); -1 with errno on failure.
int sc_inode_flags(int fd, long *flags);

/// True when FS_IMMUTABLE_FL or FS_APPEND_FL is set in `flags`.
int sc_flags_forbid_change(long flags);

/// pipe2(2) with O_CLOEXEC.
int sc_pipe_cloexec(int fds[2]);

/// Fills `buffer` with `length` bytes from the kernel's random generator (getrandom(2)).
int sc_random_bytes(void *buffer, size_t length);

/// The permanent hardware address of interface `name` (ETHTOOL_GPERMADDR) into `out`
/// (at least 32 bytes); returns its length, 0 when the driver has none, -1 with errno on failure.
int sc_permanent_mac(const char *name, unsigned char *out);

/// umount2(path, MNT_DETACH).
int sc_detach_mount(const char *path);

/// sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE): start writing the file's data back now, so a
/// later fsync of this or a sibling file finds it on its way (GNU extension, hidden from Swift).
int sc_start_writeback(int fd);

/// The errno of the calling thread, readable from Swift without Glibc's macro.
int sc_errno(void);

#endif
