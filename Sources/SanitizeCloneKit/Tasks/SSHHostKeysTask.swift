#if canImport(Glibc)
import Glibc
#endif

/// Regenerates the SSH host keys, so one leaked template key cannot impersonate every clone.
///
/// The keys are those `HostKey` names in sshd_config and its `Include` files, else the key
/// files present, else (a sealed template has none) `[SSH] KeyTypes=`. Each new key keeps the
/// old key's type, size, owner, group and mode; all are generated at once with the host's
/// `ssh-keygen` in a private directory outside the root as soon as the plan is known, then
/// written into place atomically with the old key's attributes.
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

    /// What `plan` decided and `apply` carries out.

    public struct Decision: Sendable {
        let keys: [KeyPlan]
        let comment: String
        let keygen: Program
        /// The keys being generated, from `prepare` until `apply` has installed them.
        let generation = SharedSlot<KeyGeneration>()
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
        var paths = try Self.keyPaths(in: root)
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
        var certificateRemovals: [Change] = []
        for key in keys {
            let oldPublic = try Self.describeExisting(key.path, root: root)
            let described = "\(key.type.uppercased())\(key.bits.map { " \($0)" } ?? "") (new)"
            changes.append(Change(path: key.path, action: oldPublic == nil ? "create" : "write", old: oldPublic == nil ? nil : "<secret>",
                                  new: "<secret>", isSecret: true))
            var publicKey = Change(path: key.path + ".pub", action: oldPublic == nil ? "create" : "write", old: oldPublic, new: described)
            publicKey.isTiedToSecret = true
            changes.append(publicKey)
            if let certificate = key.certificate {
                var removal = Change(path: certificate, action: "delete", old: "certificate of the old key", new: nil,
                                     undo: .restorePath(followingSymlinks: false))
                removal.isTiedToSecret = true
                certificateRemovals.append(removal)
                notes.append("\(certificate) certified the old key and is removed: sign the new \(key.path).pub and put the certificate back")
            }
        }
        // Key pairs first (written together, their syncs grouped), then old certificates. The
        // comment is root@<the name /etc/hostname holds>, as openssh-server's `hostname` gives it.
        changes += certificateRemovals
        let hostname = try context.identity.staticHostname
            ?? root.readText("/etc/hostname")?.trimmingWhitespace() ?? "localhost"
        return TaskPlan(changes: changes, decision: Decision(keys: keys, comment: "root@\(hostname)", keygen: keygen), notes: notes)
    }

    /// The key at `path`: type and size from the old key (or its name), attributes kept.
    func planKey(_ path: String, root: RootDirectory, sshKeysGroup: UInt32?, rsaBits: Int, notes: inout [String]) throws -> KeyPlan? {
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
        let privateStatus = try root.regularFileStatus(of: path)
        let publicStatus = try root.regularFileStatus(of: path + ".pub")
        let distroDefault = sshKeysGroup.map { FileAttributes(owner: 0, group: $0, mode: 0o640) } ?? FileAttributes(mode: 0o600)
        let certificate = path + "-cert.pub"
        return KeyPlan(
            path: path, type: type, bits: bits,
            privateAttributes: privateStatus.map(FileAttributes.init(of:)) ?? distroDefault,
            publicAttributes: publicStatus.map(FileAttributes.init(of:)) ?? FileAttributes(mode: 0o644),
            certificate: try root.status(of: certificate) != nil ? certificate : nil)
    }

    /// The key paths this root's sshd uses: `HostKey` lines, else the key files present.
    static func keyPaths(in root: RootDirectory) throws -> [String] {
        let configured = try SSHDConfig(root: root).hostKeys
        if !configured.isEmpty { return configured }
        return try root.directoryEntries(defaultDirectory)
            .filter { $0.hasPrefix("ssh_host_") && $0.hasSuffix("_key") }
            .map { RootPath.join(defaultDirectory, $0) }
    }

    /// SHA256 fingerprints of the host keys present now (for the recorded template identity).
    public static func existingKeyFingerprints(in root: RootDirectory) throws -> [String] {
        try keyPaths(in: root).compactMap { try readKey($0, root: root)?.fingerprint }.sorted()
    }

    /// The old key's public facts from its .pub file, else from the private key.
    static func readKey(_ path: String, root: RootDirectory) throws -> SSHKey? {
        if let text = try root.readTextLeniently(path + ".pub"), let key = SSHKey(publicKeyText: text) { return key }
        if let text = try root.readTextLeniently(path), let key = SSHKey(privateKeyText: text) { return key }
        return nil
    }

    static func describeExisting(_ path: String, root: RootDirectory) throws -> String? {
        if let key = try readKey(path, root: root) { return key.summary }
        return try root.followedStatus(of: path) == nil && root.followedStatus(of: path + ".pub") == nil ? nil : "(unreadable key)"
    }

    /// The gid of `name` in the root's /etc/group, if the group exists (Fedora's ssh_keys).
    static func groupID(named name: String, in root: RootDirectory) throws -> UInt32? {
        guard let text = try root.readText("/etc/group") else { return nil }
        for line in text.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            if fields.count >= 3, fields[0] == name { return UInt32(fields[2]) }
        }
        return nil
    }

    /// Starts generating every key (outside the root, so before the journal is written).
    public func prepare(_ decision: Decision) throws {
        let requests = decision.keys.map { KeyGeneration.Request(name: Self.generationName($0), type: $0.type, bits: $0.bits) }
        decision.generation.set(try KeyGeneration(requests, comment: decision.comment, keygen: decision.keygen))
    }

    public func apply(_ decision: Decision, in context: ApplyContext) throws {
        let root = context.root
        if decision.generation.get() == nil { try prepare(decision) }
        guard let generation = decision.generation.get() else { return }
        defer { decision.generation.set(nil) }
        var writes: [RootDirectory.FileWrite] = []
        var newKeys: [SSHKey?] = []
        for key in decision.keys {
            let (privateKey, publicKey) = try generation.result(for: Self.generationName(key))
            writes.append(RootDirectory.FileWrite(path: key.path, contents: privateKey, attributes: key.privateAttributes))
            writes.append(RootDirectory.FileWrite(path: key.path + ".pub", contents: publicKey, attributes: key.publicAttributes))
            newKeys.append(SSHKey(publicKeyText: String(decoding: publicKey, as: UTF8.self)))
        }
        // Writes i = 2k (private key k) and 2k + 1 (its .pub) are the plan's changes i.
        try root.writeFilesAtomically(writes) { index in
            guard index % 2 == 1, let newKey = newKeys[index / 2] else { return try context.changeApplied(index) }
            try context.changeApplied(index, actualNew: newKey.summary)
            context.notice("New SSH host key \(newKey.summary) at \(decision.keys[index / 2].path)",
                           path: writes[index].path, new: newKey.fingerprint)
        }
        var index = writes.count
        for certificate in decision.keys.compactMap(\.certificate) {
            try root.removeFile(certificate)
            try context.changeApplied(index); index += 1
        }
    }

    /// On a live system whose bus runs (a manual run), restarts sshd if it runs so it serves the
    /// new keys (`TryRestartUnit`: a stopped sshd stays stopped). At boot sshd starts after us.
    public func afterCommit(_ decision: Decision, in context: ApplyContext) throws {
        guard context.root.isLiveSystem, context.mode == .manual, SystemBus.isAvailable else { return }
        let manager = SystemdManager(bus: try SystemBus())
        for unit in ["ssh.service", "sshd.service"] where try manager.unitActiveState(unit) != nil {
            _ = try manager.tryRestartUnit(unit)
            context.notice("Restarted \(unit) so it serves the new host keys")
        }
    }

    /// A unique file name for `key` in the generation directory.
    static func generationName(_ key: KeyPlan) -> String {
        "key-" + SHA256.hex(Array(key.path.utf8)).prefix(16)
    }

    public func verify(_ decision: Decision, in context: ApplyContext) throws {
        for key in decision.keys {
            guard let privateText = try context.root.readTextLeniently(key.path), let publicText = try context.root.readTextLeniently(key.path + ".pub"),
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

extension SSHHostKeysTask {
    /// Each host key's public half matches its private half and is not the template's.
    public func cloneChecks(in context: VerificationContext) throws -> [CloneCheck] {
        var checks: [CloneCheck] = []
        for path in try Self.keyPaths(in: context.root) {
            let privateKey = try context.root.readTextLeniently(path).flatMap(SSHKey.init(privateKeyText:))
            guard let publicKey = try context.root.readTextLeniently(path + ".pub").flatMap(SSHKey.init(publicKeyText:)) else {
                checks.append(CloneCheck("\(path).pub matches its private key", false, "missing or unreadable"))
                continue
            }
            if let privateKey {
                checks.append(CloneCheck("\(path).pub matches its private key", privateKey.blob == publicKey.blob, publicKey.fingerprint))
            }
            if let old = context.template?.sshFingerprints {
                checks.append(CloneCheck("\(path) is not the template's key", !old.contains(publicKey.fingerprint), publicKey.fingerprint))
            }
        }
        return checks
    }

    /// The host keys sshd needs where they are missing (a sealed template has none), planned as
    /// `plan` plans them — type from the name, the distribution's owner, group and mode.
    public func createMissing(in root: RootDirectory, configuration: Configuration) throws -> [String] {
        var paths = try Self.keyPaths(in: root)
        if paths.isEmpty, try root.followedStatus(of: Self.defaultDirectory)?.kind == .directory {
            paths = configuration.value("SSH", "KeyTypes").split(separator: " ").map { "/etc/ssh/ssh_host_\($0)_key" }
        }
        let sshKeysGroup = try Self.groupID(named: "ssh_keys", in: root)
        var notes: [String] = []
        let missing = try paths.filter { try root.followedStatus(of: $0) == nil }.compactMap { path in
            try planKey(path, root: root, sshKeysGroup: sshKeysGroup, rsaBits: configuration.number("SSH", "RSABits"), notes: &notes)
        }
        guard !missing.isEmpty else { return [] }
        let keygen = try Program.find("ssh-keygen", package: "openssh-client")
        let generation = try KeyGeneration(missing.map { KeyGeneration.Request(name: Self.generationName($0), type: $0.type, bits: $0.bits) },
                                           comment: "root@localhost", keygen: keygen)
        for key in missing {
            let (privateKey, publicKey) = try generation.result(for: Self.generationName(key))
            try root.writeFileAtomically(key.path, contents: privateKey, attributes: key.privateAttributes)
            try root.writeFileAtomically(key.path + ".pub", contents: publicKey, attributes: key.publicAttributes)
        }
        return missing.map(\.path)
    }
}
