/// sanitize-clone's documented exit codes.
public enum ExitStatus {
    /// Done, or nothing to do.
    public static let success: Int32 = 0
    /// A task failed and everything was rolled back.
    public static let rolledBack: Int32 = 1
    /// Usage, configuration or input error; nothing was changed.
    public static let invalidInput: Int32 = 2
    /// Rollback incomplete; the message lists what is left.
    public static let rollbackIncomplete: Int32 = 4
    /// Another run holds the lock.
    public static let locked: Int32 = 5

    /// The exit code for an error thrown out of a command.
    public static func code(for error: any Error) -> Int32 {
        switch error {
        case is LockHeldError: locked
        case is CorruptJournalError, is ForeignJournalError, is RollbackIncompleteError, is UnfinishedImageRunError: rollbackIncomplete
        case is ImageUUIDChangeError: rolledBack
        case let error as ImageReadBackError: error.rollbackFailure == nil ? rolledBack : rollbackIncomplete
        default: invalidInput
        }
    }
}
