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

/// renameat2(olddir, old, newdir, new, RENAME_NOREPLACE): fails with EEXIST instead of replacing.
int sc_renameat_noreplace(int old_directory, const char *old_name, int new_directory, const char *new_name);

/// The errno of the calling thread, readable from Swift without Glibc's macro.
int sc_errno(void);

/// Interface flags (net/if.h) and the Ethernet hardware type (net/if_arp.h) the address probe reads.
#define SC_IFF_UP      0x1
#define SC_IFF_RUNNING 0x40
#define SC_IFF_NOARP   0x80
#define SC_ARPHRD_ETHER 1

/// socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0): a packet socket for ARP
/// payloads (the kernel adds and strips the Ethernet header) that hears nothing until bound.
int sc_arp_socket(void);

/// bind(2) of a packet socket to ETH_P_ARP on one interface, so it hears ARP on that link only.
int sc_arp_socket_bind(int fd, int interface_index);

/// sendto(2) of one ARP payload to the Ethernet broadcast address on interface `interface_index`.
/// Returns the bytes sent or -1 with errno set.
long sc_arp_send_broadcast(int fd, int interface_index, const void *packet, size_t length);

/// recvfrom(2) with MSG_DONTWAIT of one ARP payload; `*sent_by_us` is set to 1 when it is a copy
/// of a frame this host sent (PACKET_OUTGOING). Returns its length or -1 with errno (EAGAIN: none).
long sc_arp_receive(int fd, void *buffer, size_t capacity, int *sent_by_us);

/// The index of interface `name` (SIOCGIFINDEX), or -1 with errno (ENODEV: no such interface).
int sc_interface_index(int fd, const char *name);

/// The flags of interface `name` (SIOCGIFFLAGS: SC_IFF_UP, SC_IFF_RUNNING, ...) into `*flags`.
int sc_interface_flags(int fd, const char *name, int *flags);

/// Sets the flags of interface `name` (SIOCSIFFLAGS), e.g. to bring it up or down.
int sc_set_interface_flags(int fd, const char *name, int flags);

/// The hardware address of interface `name` (SIOCGIFHWADDR) into `out` (6 bytes); returns its
/// ARPHRD_ type (SC_ARPHRD_ETHER for Ethernet) or -1 with errno.
int sc_interface_hardware_address(int fd, const char *name, unsigned char out[6]);

/// Whether the driver of interface `name` reports a link (ETHTOOL_GLINK, the carrier as the
/// driver sees it now): 1 or 0, or -1 with errno (EOPNOTSUPP when the driver cannot tell).
int sc_interface_link_detected(int fd, const char *name);

/// setns(fd, CLONE_NEWNET): moves the calling thread (only it) into the network namespace `fd`.
int sc_enter_network_namespace(int fd);

/// Attaches `backing_fd` to a free loop device (LOOP_CTL_GET_FREE, then LOOP_CONFIGURE, or
/// LOOP_SET_FD + LOOP_SET_STATUS64 before Linux 5.8) showing `size_limit` bytes from `offset`, with
/// LO_FLAGS_AUTOCLEAR: the kernel detaches it when its last user closes it (this descriptor, a
/// mount). Returns the loop device's descriptor (O_CLOEXEC) and its number in `*number`, or -1
/// with errno.
int sc_loop_attach(int backing_fd, uint64_t offset, uint64_t size_limit, int read_only, int *number);

/// LOOP_CLR_FD: detaches the loop device now, or as soon as its other users (a mount) let go.
/// A device already detached (ENXIO) is success.
int sc_loop_clear(int loop_fd);

/// Locks the whole file of `fd` (F_OFD_SETLK; exclusive: F_WRLCK, else F_RDLCK). The lock belongs
/// to the open file description, so it lasts while a loop device still uses that description.
/// Returns 0, or -1 with errno (EAGAIN or EACCES: another holder's lock conflicts, e.g. a running
/// qemu's on its disk image).
int sc_lock_whole_file(int fd, int exclusive);

/// unshare(CLONE_NEWNS), then MS_SLAVE | MS_REC propagation on "/": mounts made afterwards by the
/// calling thread (and threads it starts later) are invisible to every other process.
int sc_detach_mount_namespace(void);

/// mount(2) with MS_NOSUID | MS_NODEV, and MS_RDONLY when `read_only`.
int sc_mount_filesystem(const char *source, const char *target, const char *type, int read_only, const char *options);

/// umount2(path, UMOUNT_NOFOLLOW); when the filesystem is busy (EBUSY) and `lazily_if_busy`,
/// umount2 with MNT_DETACH: gone from the tree now, released when its last user lets go.
int sc_unmount(const char *path, int lazily_if_busy);

/// Registers a mount to undo if SIGINT, SIGTERM or SIGHUP ends the process; `remove_directory`:
/// rmdir its mount point afterwards. Returns a slot for sc_cleanup_remove, or -1 with errno.
int sc_cleanup_add_mount(const char *path, int remove_directory);

/// Registers a loop device descriptor to clear (LOOP_CLR_FD) and close if a signal ends the process.
int sc_cleanup_add_loop(int loop_fd);

/// Forgets a registration before its owner undoes it. Returns 1 when the owner must undo it (and
/// close a loop descriptor), 0 when sc_cleanup_run already did (the descriptor is closed).
int sc_cleanup_remove(int slot);

/// Undoes everything registered: unmounts (last registered first), removes the mount points it
/// was asked to, flushes (fsync), clears and closes loop devices. Only async-signal-safe system calls.
void sc_cleanup_run(void);

/// Once per process: SIGINT, SIGTERM and SIGHUP, where they still have their default action,
/// run sc_cleanup_run and then end the process by the same signal. Returns how many were installed.
int sc_cleanup_install_signal_handlers(void);

#endif
