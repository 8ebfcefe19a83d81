/// How to reverse one change, recorded durably in the journal *before* the change is made.
///
/// The set is closed: a path put back from the run's own backups inside the root, or one inverse
/// of a kind a task registered (`UndoKind`) with values that kind validates. No record can name a
/// program to run or a device to act on; the kind itself finds its device within the run's
/// `DeviceScope`. Every action is idempotent, so recovery can replay all of a run's actions in
/// reverse order without knowing which changes actually happened before a crash.
public enum UndoAction: Codable, Sendable, Equatable {
    /// Put a path back as it was (file contents and attributes, symlink, or absence).
    case restore(PathSnapshot)
    /// An inverse of a registered kind ("kernel-hostname", "block-device-identity"…), with its
    /// values, e.g. the hostname to set back.
    case inverse(kind: String, values: [String])

    /// The path the action touches inside the root, if any, for validation and messages.
    public var path: String? {
        if case .restore(let snapshot) = self { return snapshot.path }
        return nil
    }

    /// A human description, e.g. "restore /etc/hostname".
    public func summary(kinds: UndoKinds) -> String {
        switch self {
        case .restore(let snapshot):
            switch snapshot.state {
            case .absent: return "remove \(snapshot.path)"
            case .symlink(let target): return "relink \(snapshot.path) → \(target)"
            default: return "restore \(snapshot.path)"
            }
        case .inverse(let kind, let values):
            return kinds[kind]?.summary(values) ?? "\(kind) \(values.joined(separator: " "))"
        }
    }
}

/// One kind of inverse for changes that are not files, registered by the task that makes them
/// (`SanitizeTask.undoKinds`): the engine knows none by name. A kind validates the values a
/// journal record holds before anything is followed, and carries the inverse out idempotently.
public protocol UndoKind: Sendable {
    /// The kind's name in the journal, e.g. "kernel-hostname".
    var name: String { get }
    /// Throws (with the reason) when `values` are not what this kind ever records.
    func validate(_ values: [String]) throws
    /// One line for messages, e.g. "set the running hostname back to web-01".
    func summary(_ values: [String]) -> String
    /// Carries the inverse out (a no-op when it is already in effect). Throws when it cannot.
    func undo(_ values: [String], in context: UndoContext) throws
}

/// The undo kinds the tasks of a run registered, by name.
public struct UndoKinds: Sendable {
    private let byName: [String: any UndoKind]

    /// The kinds of `tasks`; two kinds of one name are a programming error.
    public init(_ kinds: [any UndoKind]) {
        byName = Dictionary(kinds.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public subscript(name: String) -> (any UndoKind)? { byName[name] }

    /// Throws when `action` is an inverse of no registered kind or with values its kind refuses.
    func validate(_ action: UndoAction) throws {
        guard case .inverse(let name, let values) = action else { return }
        guard let kind = byName[name] else { throw InputError("an undo action of unknown kind '\(name)'") }
        try kind.validate(values)
    }
}

/// What an undo kind may act on: the root (through its descriptor only) and the block devices
/// the run's `DeviceScope` allows — never any other device of the host.
public struct UndoContext: Sendable {
    public let root: RootDirectory
    /// The devices of the root's own disk (or image), as probed now.
    public let devices: @Sendable () throws -> BlockDeviceInventory
    /// The disk image whose partition table the run may set back (`--image`, as the command line
    /// gave it); nil for a `--root` or the running system.
    public let imageFile: String?
    /// The bytes a change journaled with `Change.Undo.inverseKeeping` at a place of the run's own
    /// `files` pack, checked against their SHA-256. Throws when the pack is gone (pruned), too
    /// short, or the copy fails its checksum.
    public let backup: @Sendable (_ location: BackupLocation, _ sha256: String) throws -> [UInt8]

    public init(root: RootDirectory, devices: @escaping @Sendable () throws -> BlockDeviceInventory, imageFile: String? = nil,
                backup: @escaping @Sendable (BackupLocation, String) throws -> [UInt8] = { location, _ in
                    throw InputError("no backup pack is at hand for \(location.file) (roll the run back with sanitize-clone rollback)")
                }) {
        self.root = root
        self.devices = devices
        self.imageFile = imageFile
        self.backup = backup
    }
}
