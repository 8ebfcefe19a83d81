/// Every built-in task, in the order a newcomer reads them. The engine orders them by their
/// `runsAfter`; this list only breaks ties. Adding a task is adding its file and one line here.
public enum TaskRegistry {
    public static let all: [any SanitizeTask] = [
        MachineIDTask(),
        HostnameTask(),
        SSHHostKeysTask(),
        RandomSeedTask(),
        NetworkManagerSecretKeyTask(),
        DHCPStateTask(),
        ISCSIInitiatorTask(),
        FilesystemUUIDsTask(),
        PartitionTableIDsTask(),
        InitramfsTask(),
        NetworkBindingsTask(),
        StaticAddressesTask(),
        HostIDTask(),
        SSLSnakeoilTask(),
        CloudInitStateTask(),
        ReportedIdentitiesTask(),
        IdentityRecordTask(),
    ]
}
