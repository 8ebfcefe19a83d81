/// How a run was asked for on the command line or by the boot service.
public struct RunOptions: Sendable {
    /// Who started the run.
    public enum Mode: String, Sendable {
        /// An administrator (`sanitize-clone run`): secret backups are kept for `rollback`.
        case manual
        /// The first-boot service (`run --auto`): secret backups are shredded once committed.
        case auto
    }

    public var dryRun = false
    /// Run only these tasks (never their dependencies); nil: all.
    public var only: [String]?
    /// Leave these tasks out.
    public var skip: [String] = []
    /// `--hostname`: the new hostname, over every other source.
    public var hostname: String?
    /// `--config`: a host path replacing the root's main configuration file.
    public var configFile: String?
    public var mode: Mode = .manual
    /// A failpoint for tests (`SANITIZE_CLONE_FAILPOINT`).
    public var failpoint: Failpoint?
    /// How many independent tasks may apply at once.
    public var concurrency = 4
    /// Where per-clone credentials are read from (live runs only); nil: `$CREDENTIALS_DIRECTORY`,
    /// then `/run/credentials/@system`.
    public var credentialsDirectory: String?
    /// What the boot-time run knows about the template (set by `AutoRun`); nil for manual runs.
    public var boot: BootFacts?
    /// Programs from inside a `--root` (drop-in tasks' `Exec=`) may run, chrooted into it.
    public var allowExec = false
    /// The machine the root belongs to (its NICs and product UUID): read from the running system
    /// for `/`, given with `--nic`/`--product-uuid` for another root; nil when nothing is known.
    public var platform: PlatformFacts?
    /// The block devices the root's filesystems may be on (`--image`: the image's loop devices);
    /// nil: the `DeviceScope` of the root.
    public var blockDevices: [BlockDeviceIdentity]?
    /// `--device`: block devices of the clone beside the disk holding a `--root` (see `DeviceScope`).
    public var devices: [String] = []
    /// `--image`: the disk image whose root is mounted at the run's root (its journal is bound
    /// to the image, not to the private mount point).
    public var image: String?
    /// Filesystems the caller has mounted and changes once unmounted (`--image`).
    public var deferredFilesystems: DeferredFilesystemChanges?
    /// `--image`: what the image holds that this host cannot reach without device-mapper
    /// (striped, thin, RAID LVs, LUKS), one line each; `fs-uuids` lists them in its plan.
    public var unreachableVolumes: [String] = []
    /// Probe new static IPv4 addresses on this machine's NICs before writing them (RFC 5227).
    /// nil: only on the running system.
    public var probeAddresses: Bool?

    public init() {}
}

/// Facts a boot-time run passes to the tasks: the template's recorded machine-id and the DMI
/// product UUID, so the machine-id task can tell systemd's random transient id from one that is
/// not unique (the template's, or one derived from a product UUID two clones may share).
public struct BootFacts: Sendable {
    public var templateMachineID: String?
    public var productUUID: String?

    public init(templateMachineID: String?, productUUID: String?) {
        self.templateMachineID = templateMachineID
        self.productUUID = productUUID
    }

    /// Ids that are not unique to this clone.
    public var sharedMachineIDs: Set<String> {
        Set([templateMachineID].compactMap { $0 } + (productUUID.map(ProductUUID.derivedMachineIDs) ?? []))
    }
}

/// The new identity as the tasks plan it, so later tasks use earlier tasks' new values
/// (the hostname derived from the new machine-id, the key comment from the new hostname).
public struct NewIdentity: Sendable {
    /// The new machine-id (32 hex digits).
    public var machineID: String?
    /// The machine-id the root had before the run, when it had one.
    public var previousMachineID: String?
    /// The new short hostname.
    public var hostname: String?
    /// The domain of the new hostname, when it has one.
    public var domain: String?
    /// The name as /etc/hostname holds it: the short name (Debian) or the FQDN (Fedora), as
    /// `hostname` prints it.
    public var staticHostname: String?

    public init() {}

    /// "name.domain", or the name alone.
    public var fullyQualifiedHostname: String? {
        guard let hostname else { return nil }
        guard let domain, !domain.isEmpty else { return hostname }
        return "\(hostname).\(domain)"
    }
}
