#if canImport(Glibc)
import Glibc
#endif

/// Regenerates the SSH host keys, so one leaked template key cannot impersonate every clone.
///
/// The keys are those `HostKey` names in sshd_config and its `Include` files, else the key
/// files present, else (a sealed template has none) `[SSH] KeyTypes=`. Each new key keeps the
/// old key's type, size, owner, group and mode; all are generated at once with the host's
/// `ssh-keygen` in a private directory beside the target and renamed into place.
/// Certificates of old keys are removed and reported; new fingerprints are logged.
public struct SSHHostKeysTask: SanitizeTask {
    /// One key to generate.
    public struct KeyPlan: Sendable {
        let path: String
        let type: String
        let bits: Int?
        let privateAttributes: FileAttributes
        let publicAttributes: FileAttributes
        let certificate: String?
    }

    public struct Decision: Sendable {
        let keys: [KeyPlan]
        let comment: String
        let keygen: Program
    }

    public let name = "ssh-host-keys"
    public let summary = "Regenerate the SSH host keys (same types, sizes, owners and modes); remove old certificates"
    public let plannedAfter = ["hostname"]
    public let expectedCost = TaskCost.large
    public let configurationKeys: [ConfigurationKey] = [
        ConfigurationKey(section: "SSH", name: "KeyTypes", summary: "Key types created when the template has no host keys", defaultValue: "rsa ecdsa ed25519") { value in
            value.split(separator: " ").allSatisfy { ["rsa", "ecdsa", "ed25519"].contains($0) } ? nil : "expected rsa, ecdsa and/or ed25519"
        },
        .number(section: "SSH", name: "RSABits", summary: "Size of a new RSA key when there is no old one to match", defaultValue: 3072, range: 2048...16384),
    ]

    public init() {}

    static let defaultDirectory = "/etc/ssh"

    public func plan(in context: PlanningContext) throws -> TaskPlan<Decision> {
        let root = context.root
        let keygen = try Program.find("ssh-keygen", package: "openssh-client")
        let config = try SSHDConfig(root: root)
        var paths = config.hostKeys
        if paths.isEmpty {
            paths = try root.directoryEntries(Self.defaultDirectory)
                .filter { $0.hasPrefix("ssh_host_") && $0.hasSuffix("_key") }
                .map { RootPath.join(Self.defaultDirectory, $0) }
        }
        if paths.isEmpty {
            guard try root.followedStatus(of: Self.defaultDirectory)?.kind == .directory else {
                return .skip("\(Self.defaultDirectory) does not exist (no OpenSSH server in this root)")
            }
            paths = context.configuration.value("SSH", "KeyTypes").split(separator: " ").map { "/etc/ssh/ssh_host_\($0)_key" }
        }

        let sshKeysGroup = try Self.groupID(named: "ssh_keys", in: root)
        let rsaBits = context.configuration.number("SSH", "RSABits")
        var keys: [KeyPlan] = []
        var changes: [Change] = []
        var notes: [String] = []
        for path in paths {
            guard let key = try planKey(path, root: root, sshKeysGroup: sshKeysGroup, rsaBits: rsaBits, notes: &notes) else { continue }
            keys.append(key)
        }
        // The slowest key (RSA) first, so the others finish behind it.
        keys.sort { ($0.type == "rsa" ? 0 : 1, $0.path) < ($1.type == "rsa" ? 0 : 1, $1.path) }
        for key in keys {
            let oldPublic = try Self.describeExisting(key.path, root: root)
            let described = "\(key.type.uppercased())\(key.bits.map { " \($0)" } ?? "") (new)"
            changes.append(Change(path: key.path, action: oldPublic == nil ? "create" : "write", old: oldPublic == nil ? nil : "<secret>",
                                  new: "<secret>", isSecret: true))
            changes.append(Change(path: key.path + ".pub", action: oldPublic == nil ? "create" : "write", old: oldPublic, new: described))
            if let certificate = key.certificate {
                changes.append(Change(path: certificate, action: "delete", old: "certificate of the old key", new: nil,
                                      undo: .restorePath(followingSymlinks: false)))
                notes.append("\(certificate) certified the old key and is removed: sign the new \(key.path).pub and put the certificate back")
            }
        }
        let hostname = try context.identity.fullyQualifiedHostname
            ?? root.readText("/etc/hostname")?.trimmingWhitespace() ?? "localhost"
        return TaskPlan(changes: changes, decision: Decision(keys: keys, comment: "root@\(hostname)", keygen: keygen), notes: notes)
    }

    /// The key at `path`: type and size from the old key (or its name), attributes kept.
    private func planKey(_ path: String, root: RootDirectory, sshKeysGroup: UInt32?, rsaBits: Int, notes: inout [String]) throws -> KeyPlan? {
        let old = try Self.readKey(path, root: root)
        var type = old?.keygenType
        if type == nil, old == nil {
            let name = RootPath.lastComponent(of: path)
            type = ["rsa", "ecdsa", "ed25519", "dsa"].first { name == "ssh_host_\($0)_key" }
        }
        guard let type else {
            notes.append("\(path): cannot tell the key type (\(old?.wireType ?? "no key file")); left as it is")
            return nil
        }
        let bits: Int? = switch type {
        case "rsa": old?.bits ?? rsaBits
        case "ecdsa": old?.bits ?? 256
        default: nil
        }
        let privateStatus = try root.followedStatus(of: path)
        let publicStatus = try root.followedStatus(of: path + ".pub")
        let distroDefault = sshKeysGroup.map { FileAttributes(owner: 0, group: $0, mode: 0o640) } ?? FileAttributes(mode: 0o600)
        let certificate = path + "-cert.pub"
        return KeyPlan(
            path: path, type: type, bits: bits,
            privateAttributes: privateStatus.map(FileAttributes.init(of:)) ?? distroDefault,
            publicAttributes: publicStatus.map(FileAttributes.init(of:)) ?? FileAttributes(mode: 0o644),
            certificate: try root.status(of: certificate) != nil ? certificate : nil)
    }

    /// The old key's public facts from its .pub file, else from the private key.
    static func readKey(_ path: String, root: RootDirectory) throws -> SSHKey? {
        if let text = try root.readText(path + ".pub"), let key = SSHKey(publicKeyText: text) { return key }
        if let text = try root.readText(path), let key = SSHKey(privateKeyText: text) { return key }
        return nil
    }

    static func describeExisting(_ path: String, root: RootDirectory) throws -> String? {
        if let key = try readKey(path, root: root) { return key.summary }
        return try root.followedStatus(of: path) == nil && root.followedStatus(of: path + ".pub") == nil ? nil : "(unreadable key)"
    }

    /// The gid of `name` in the root's /etc/group, if the group exists (Fedora's ssh_keys).
    static func groupID(named name: String, in root: RootDirectory) throws -> UInt32? {
        guard let text = try root.readText("/etc/group") else { return nil }
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count >= 3, fields[0] == name { return UInt32(fields[2]) }
        }
        return nil
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        let root = context.root
        let byDirectory = Dictionary(grouping: decision.keys) { try! root.canonicalPath(RootPath.parent(of: $0.path)) }
        var generated: [(key: KeyPlan, workspace: KeyWorkspace)] = []
        var workspaces: [KeyWorkspace] = []
        defer { workspaces.forEach { $0.remove() } }

        // Start every ssh-keygen at once, RSA first; then collect them.
        var running: [(KeyPlan, KeyWorkspace, RunningProgram)] = []
        for (directory, keys) in byDirectory.sorted(by: { $0.key < $1.key }) {
            let workspace = try KeyWorkspace(directory: directory, root: root)
            workspaces.append(workspace)
            for key in keys {
                var arguments = ["-q", "-t", key.type, "-N", "", "-C", decision.comment]
                if let bits = key.bits { arguments += ["-b", String(bits)] }
                arguments += ["-f", workspace.pathForKeygen(RootPath.lastComponent(of: key.path))]
                running.append((key, workspace, try decision.keygen.start(arguments)))
            }
        }
        for (key, workspace, program) in running {
            try program.wait().check()
            generated.append((key, workspace))
        }

        var index = 0
        for key in decision.keys {
            let workspace = generated.first { $0.key.path == key.path }!.workspace
            let name = RootPath.lastComponent(of: key.path)
            try workspace.install(name, as: key.path, attributes: key.privateAttributes, root: root)
            try context.changeApplied(index); index += 1
            try workspace.install(name + ".pub", as: key.path + ".pub", attributes: key.publicAttributes, root: root)
            let newKey = try root.readText(key.path + ".pub").flatMap(SSHKey.init(publicKeyText:))
            try context.changeApplied(index, actualNew: newKey?.summary); index += 1
            if let newKey {
                context.notice("New SSH host key \(newKey.summary) at \(key.path)", path: key.path + ".pub", new: newKey.fingerprint)
            }
            if let certificate = key.certificate {
                try root.removeFile(certificate)
                try context.changeApplied(index); index += 1
            }
        }
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        for key in decision.keys {
            guard let privateText = try context.root.readText(key.path), let publicText = try context.root.readText(key.path + ".pub"),
                  let fromPrivate = SSHKey(privateKeyText: privateText), let fromPublic = SSHKey(publicKeyText: publicText) else {
                throw VerificationError("\(key.path): the new key pair cannot be read")
            }
            guard fromPrivate.blob == fromPublic.blob else {
                throw VerificationError("\(key.path).pub does not match \(key.path)")
            }
            guard fromPublic.keygenType == key.type, key.bits == nil || fromPublic.bits == key.bits else {
                throw VerificationError("\(key.path): generated \(fromPublic.summary), expected \(key.type) \(key.bits ?? 0)")
            }
            guard let status = try context.root.followedStatus(of: key.path), FileAttributes(of: status) == key.privateAttributes else {
                throw VerificationError("\(key.path): owner, group or mode differ from the old key's")
            }
        }
    }
}

/// A private 0700 directory beside the keys, named with the run id so recovery removes it,
/// where ssh-keygen writes before the keys are renamed into place.
final class KeyWorkspace: @unchecked Sendable {
    // @unchecked: used by one task's apply at a time; the descriptor is immutable.
    let directory: String
    let name: String
    let descriptor: Int32
    private let root: RootDirectory

    init(directory: String, root: RootDirectory) throws {
        let name = ".ssh-host-keys.\(root.temporaryTag).\(UInt32.random(in: 0...UInt32.max))"
        let parent = try root.openDescriptor(directory, flags: O_RDONLY | O_DIRECTORY)
        defer { close(parent) }
        try Syscall.call(.mkdir, "create a private key directory in", path: directory) { mkdirat(parent, name, 0o700) }
        self.directory = directory
        self.root = root
        self.name = name
        descriptor = try root.openDescriptor(RootPath.join(directory, name), flags: O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
    }

    /// The path ssh-keygen writes `file` to: through our descriptor, never a path it could be
    /// redirected on.
    func pathForKeygen(_ file: String) -> String {
        RootDirectory.pathForOtherProgram(directory: descriptor, name: file)
    }

    /// Gives `file` its attributes, syncs it and renames it onto `target` (same directory tree).
    func install(_ file: String, as target: String, attributes: FileAttributes, root: RootDirectory) throws {
        let fd = try Syscall.call(.open, "open the new key", path: target) { openat(descriptor, file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) }
        do {
            defer { close(fd) }
            try Syscall.call(.chown, "set the owner of", path: target) { fchown(fd, attributes.owner, attributes.group) }
            try Syscall.call(.chmod, "set the mode of", path: target) { fchmod(fd, attributes.mode) }
            try Syscall.call(.fsync, "flush", path: target) { fsync(fd) }
        }
        let targetDirectory = try root.openParent(of: try root.canonicalPath(target))
        defer { close(targetDirectory) }
        try Syscall.call(.rename, "install", path: target) {
            renameat(descriptor, file, targetDirectory, RootPath.lastComponent(of: target))
        }
        try root.syncDirectory(targetDirectory, of: target)
    }

    /// Removes the directory and anything left in it.
    func remove() {
        close(descriptor)
        try? root.removeTree(RootPath.join(directory, name))
    }
}
