import Foundation
import Testing

/// A cloned-template root directory built for one test, inside a scratch directory of its own
/// (the scratch directory also holds files "outside the root" for the hostile-symlink cases).
///
/// Call `remove()` when done (`defer { root.remove() }`).
final class FixtureRoot: @unchecked Sendable {
    // @unchecked: a fixture is built and used by one test at a time; it holds only strings.

    /// The scratch directory on the host; the root is its `root/` subdirectory.
    let scratch: String
    /// The root's path on the host (what `--root` gets).
    let path: String

    /// The id every fixture template starts with.
    static let templateMachineID = "5f3c1a9e2b7d4c6e8a0f1b2c3d4e5f60"

    /// An empty root.
    init() throws {
        scratch = try Scratch.makeDirectory(prefix: "root")
        path = scratch + "/root"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        chmod(path, 0o755)
    }

    /// Removes the scratch directory and everything in it.
    func remove() {
        try? FileManager.default.removeItem(atPath: scratch)
    }

    // MARK: Building

    /// The host path of `inside` (an absolute path inside the root).
    func hostPath(_ inside: String) -> String { path + (inside.hasPrefix("/") ? inside : "/" + inside) }

    /// Writes `text` to `inside`, creating parent directories (0755), with mode, owner and group.
    func write(_ inside: String, _ text: String, mode: mode_t = 0o644, owner: uid_t = 0, group: gid_t = 0) throws {
        try writeBytes(inside, Array(text.utf8), mode: mode, owner: owner, group: group)
    }

    func writeBytes(_ inside: String, _ bytes: [UInt8], mode: mode_t = 0o644, owner: uid_t = 0, group: gid_t = 0) throws {
        let host = hostPath(inside)
        try makeDirectory((inside as NSString).deletingLastPathComponent)
        if lstatOf(host) != nil { try FileManager.default.removeItem(atPath: host) }
        guard FileManager.default.createFile(atPath: host, contents: Data(bytes)) else {
            throw FixtureError("cannot write \(host)")
        }
        try setAttributes(inside, mode: mode, owner: owner, group: group)
    }

    /// Creates the directory `inside` and its parents (each new one 0755), then gives it `mode`.
    func makeDirectory(_ inside: String, mode: mode_t? = nil) throws {
        try FileManager.default.createDirectory(atPath: hostPath(inside), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        if let mode { chmod(hostPath(inside), mode) }
    }

    /// Makes `inside` a symlink whose target is `target` (taken literally, as a guest would).
    func symlink(_ inside: String, to target: String) throws {
        try makeDirectory((inside as NSString).deletingLastPathComponent)
        if lstatOf(hostPath(inside)) != nil { try FileManager.default.removeItem(atPath: hostPath(inside)) }
        try FileManager.default.createSymbolicLink(atPath: hostPath(inside), withDestinationPath: target)
    }

    /// Removes `inside` (a file, link or tree) if present.
    func delete(_ inside: String) throws {
        if lstatOf(hostPath(inside)) != nil { try FileManager.default.removeItem(atPath: hostPath(inside)) }
    }

    func setAttributes(_ inside: String, mode: mode_t, owner: uid_t = 0, group: gid_t = 0) throws {
        let host = hostPath(inside)
        if Privileges.ownsFiles, lchown(host, owner, group) != 0 {
            throw FixtureError("chown \(host): \(String(cString: strerror(errno)))")
        }
        guard chmod(host, mode) == 0 else { throw FixtureError("chmod \(host): \(String(cString: strerror(errno)))") }
    }

    /// Generates a real host key with ssh-keygen at `inside` (and `inside.pub`).
    func generateKey(_ type: String, bits: Int? = nil, at inside: String, comment: String = "root@golden",
                     mode: mode_t = 0o600, group: gid_t = 0) throws {
        try makeDirectory((inside as NSString).deletingLastPathComponent)
        try delete(inside)
        try delete(inside + ".pub")
        var arguments = ["-q", "-t", type, "-N", "", "-C", comment, "-f", hostPath(inside)]
        if let bits { arguments += ["-b", String(bits)] }
        try HostCommand.succeed("ssh-keygen", arguments)
        try setAttributes(inside, mode: mode, group: group)
        try setAttributes(inside + ".pub", mode: 0o644)
    }

    /// Writes the root's `/etc/sanitize-clone/sanitize-clone.conf`.
    func configure(_ text: String) throws {
        try write("/etc/sanitize-clone/sanitize-clone.conf", text)
    }

    // MARK: Reading

    func read(_ inside: String) -> String? { try? String(contentsOfFile: hostPath(inside), encoding: .utf8) }

    func bytes(_ inside: String) -> [UInt8]? { FileManager.default.contents(atPath: hostPath(inside)).map(Array.init) }

    /// lstat(2) of `inside`, or nil when absent.
    func status(_ inside: String) -> stat? { lstatOf(hostPath(inside)) }

    func exists(_ inside: String) -> Bool { status(inside) != nil }

    func isSymlink(_ inside: String) -> Bool { status(inside).map { $0.st_mode & S_IFMT == S_IFLNK } ?? false }

    func isRegularFile(_ inside: String) -> Bool { status(inside).map { $0.st_mode & S_IFMT == S_IFREG } ?? false }

    func linkTarget(_ inside: String) -> String? { try? FileManager.default.destinationOfSymbolicLink(atPath: hostPath(inside)) }

    /// Permission bits of `inside` (not following a symlink).
    func mode(_ inside: String) -> mode_t? { status(inside).map { $0.st_mode & 0o7777 } }

    /// "uid:gid" of `inside`.
    func ownership(_ inside: String) -> String? { status(inside).map { "\($0.st_uid):\($0.st_gid)" } }

    /// What the whole root holds now, except sanitize-clone's own state directory.
    func signature() throws -> RootSignature { try RootSignature(of: path) }

    // MARK: sanitize-clone's state

    var stateDirectory: String { hostPath("/var/lib/sanitize-clone") }

    /// The recorded run ids, oldest first.
    func runIDs() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: stateDirectory + "/runs")) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    func journalPath(of runID: String) -> String { stateDirectory + "/runs/\(runID)/journal" }
}

func lstatOf(_ hostPath: String) -> stat? {
    var info = stat()
    return lstat(hostPath, &info) == 0 ? info : nil
}

// MARK: - The templates

extension FixtureRoot {
    /// The two distributions' templates every task is tested on.
    enum Kind: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case debian, fedora

        func make() throws -> FixtureRoot {
            switch self {
            case .debian: try FixtureRoot.debianLike()
            case .fedora: try FixtureRoot.fedoraLike()
            }
        }

        var testDescription: String { self == .debian ? "Debian-like root" : "Fedora-like root" }
    }

    /// A Debian 12 (bookworm) template: /var/lib/dbus/machine-id is a regular copy, the short name
    /// in /etc/hostname, `127.0.1.1 golden.example.com golden` in /etc/hosts next to another host
    /// `golden-backup`, host keys named by HostKey in an Include'd sshd_config.d file: ed25519 and
    /// ECDSA-384, private keys root:root 0600.
    static func debianLike() throws -> FixtureRoot {
        let root = try FixtureRoot()
        do {
            try root.makeDirectory("/tmp", mode: 0o1777)
            try root.makeDirectory("/var/lib/dbus")
            try root.write("/etc/machine-id", templateMachineID + "\n", mode: 0o444)
            try root.write("/var/lib/dbus/machine-id", templateMachineID + "\n", mode: 0o644)
            try root.write("/etc/hostname", "golden\n")
            try root.write("/etc/hosts", debianHosts)
            try root.write("/etc/group", "root:x:0:\n_ssh:x:101:\n")
            try root.write("/etc/ssh/sshd_config", """
                # Debian's sshd_config, shortened
                Include /etc/ssh/sshd_config.d/*.conf

                KbdInteractiveAuthentication no
                UsePAM yes
                Subsystem sftp /usr/lib/openssh/sftp-server

                """)
            try root.write("/etc/ssh/sshd_config.d/10-host-keys.conf", """
                HostKey /etc/ssh/ssh_host_ed25519_key
                HostKey /etc/ssh/ssh_host_ecdsa_key

                """)
            try root.generateKey("ed25519", at: "/etc/ssh/ssh_host_ed25519_key")
            try root.generateKey("ecdsa", bits: 384, at: "/etc/ssh/ssh_host_ecdsa_key")
        } catch {
            root.remove()
            throw error
        }
        return root
    }

    static let debianHosts = """
        127.0.0.1\tlocalhost
        127.0.1.1\tgolden.example.com golden
        192.0.2.20\tgolden-backup.example.com golden-backup  # the template's backup twin
        # golden is the template; this comment stays as it is

        # The following lines are desirable for IPv6 capable hosts
        ::1     localhost ip6-localhost ip6-loopback
        ff02::1 ip6-allnodes

        """

    /// A Fedora template: group ssh_keys (gid 998) owns the private keys (0640),
    /// /var/lib/dbus/machine-id is a symlink to /etc/machine-id, /etc/hostname holds the FQDN,
    /// /etc/machine-info a PRETTY_HOSTNAME, /etc/hosts has no 127.0.1.1 line, and sshd_config
    /// names no HostKey (sshd uses the key files present: ed25519 and ECDSA-256).
    static func fedoraLike() throws -> FixtureRoot {
        let root = try FixtureRoot()
        do {
            try root.makeDirectory("/tmp", mode: 0o1777)
            try root.makeDirectory("/var/lib/dbus")
            try root.write("/etc/machine-id", templateMachineID + "\n", mode: 0o444)
            try root.symlink("/var/lib/dbus/machine-id", to: "/etc/machine-id")
            try root.write("/etc/hostname", "golden.example.com\n")
            try root.write("/etc/machine-info", "PRETTY_HOSTNAME=\"Golden Template\"\nDEPLOYMENT=production\n")
            try root.write("/etc/hosts", """
                127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4
                ::1         localhost localhost.localdomain localhost6 localhost6.localdomain6

                """)
            try root.write("/etc/group", "root:x:0:\nwheel:x:10:\nssh_keys:x:998:\nsshd:x:74:\n")
            try root.write("/etc/ssh/sshd_config", """
                # Fedora's sshd_config, shortened: no HostKey lines, sshd uses the keys present
                Include /etc/ssh/sshd_config.d/*.conf
                AuthorizedKeysFile .ssh/authorized_keys

                """)
            try root.write("/etc/ssh/sshd_config.d/50-redhat.conf", "SyslogFacility AUTHPRIV\nUsePAM yes\n")
            try root.generateKey("ed25519", at: "/etc/ssh/ssh_host_ed25519_key", mode: 0o640, group: 998)
            try root.generateKey("ecdsa", bits: 256, at: "/etc/ssh/ssh_host_ecdsa_key", mode: 0o640, group: 998)
        } catch {
            root.remove()
            throw error
        }
        return root
    }
}
