import Foundation
import Testing
@testable import SanitizeCloneKit

/// The initramfs side of a running clone's new partition table identifiers
/// (`NextBootPartitionTables`), run by sh with the real sfdisk, blkid and blockdev against loop
/// devices. This kernel makes no partitions of a loop device (no partition-table parsing, no
/// partscan): a GPT disk GUID is set for real, a table the kernel must read again is refused and
/// put back, and a partition GUID whose partition does not show is waited for.
@Suite("The initramfs job that sets a clone's own partition table identifiers", .requiresRoot, .serialized,
       .enabled(if: StorageTools.available("sfdisk", "blkid", "blockdev"), "needs fdisk and util-linux"))
struct NextBootPartitionTablesTests {
    func run(_ changes: [NextBootPartitionTables.Change], in directory: String) throws -> (result: CommandResult, log: String, finished: Bool) {
        try NextBootPartitionTables.text(changes).write(toFile: directory + "/tables", atomically: true, encoding: .utf8)
        let script = NextBootPartitionTables.function + "\n_sanitize_clone_tables \"$1\"\necho \"after: [$_sc_new$_sc_disk$_sc_tries$_sc_entry]\"\n"
        let result = try HostCommand.run("sh", ["-c", script, "job", directory + "/tables"],
                                         environment: ["SANITIZE_CLONE_LOG": directory + "/log", "SANITIZE_CLONE_TABLES_WORK": directory + "/work",
                                                                       "SANITIZE_CLONE_REREAD_TRIES": "2"])
        let log = (try? String(contentsOfFile: directory + "/log", encoding: .utf8)) ?? ""
        return (result, log, FileManager.default.fileExists(atPath: directory + "/work/finished"))
    }

    func label(_ loop: LoopDevice, _ type: String) throws {
        try HostCommand.succeed("sh", ["-c", "printf 'label: \(type)\\nstart=2048, size=4096, type=L\\n' | sfdisk --quiet --no-reread \"$1\"", "sfdisk", loop.path])
    }

    @Test("a GPT disk GUID is set with sfdisk and read back with blkid -p; a second pass does nothing")
    func gptDiskGUID() throws {
        try LoopDevice.with(size: 8 << 20) { loop in
            try label(loop, "gpt")
            let old = try #require(try loop.blkid("PTUUID"))
            let new = try PartitionTableIdentity.newGUID()
            let first = try run([.init(type: "gpt-disk", old: old, new: new)], in: loop.directory)
            #expect(first.result.exitCode == 0 && first.result.stdout.contains("after: []"), "\(first.result)")
            #expect(try loop.blkid("PTUUID") == new.lowercased())
            #expect(first.log.contains("done gpt-disk \(old) \(new) \(loop.path)"), "\(first.log)")
            #expect(first.finished)
            try FileManager.default.removeItem(atPath: loop.directory + "/work/finished")
            let again = try run([.init(type: "gpt-disk", old: old, new: new)], in: loop.directory)
            #expect(again.log.contains("done gpt-disk \(old) \(new) (already set)"), "\(again.log)")
            #expect(try loop.blkid("PTUUID") == new.lowercased())
        }
    }

    @Test("an MBR disk identifier the kernel cannot read again (its partitions would keep the old PARTUUIDs) is put back and logged failed")
    func tableTheKernelCannotReread() throws {
        try LoopDevice.with(size: 8 << 20) { loop in
            try label(loop, "dos")
            let old = try #require(try loop.blkid("PTUUID"))
            let outcome = try run([.init(type: "mbr-disk", old: old, new: try PartitionTableIdentity.newMBRDiskID())], in: loop.directory)
            #expect(outcome.result.exitCode == 0)
            #expect(outcome.log.contains("failed mbr-disk \(old)") && outcome.log.contains("the old value is back"), "\(outcome.log)")
            #expect(try loop.blkid("PTUUID") == old, "the table is as it was")
        }
    }

    @Test("a partition not there yet is waited for (the job runs again); a malformed line is logged and nothing else done")
    func waitsAndRefuses() throws {
        let directory = try Scratch.makeDirectory(prefix: "tables")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let absent = UUID().uuidString.lowercased()
        let outcome = try run([.init(type: "gpt-partition", old: absent, new: try PartitionTableIdentity.newGUID()),
                               .init(type: "gpt-partition", old: "x;reboot", new: "y")], in: directory)
        #expect(outcome.result.exitCode == 0)
        #expect(!outcome.log.contains(absent) && !outcome.finished, "\(outcome.log)")
        #expect(outcome.log.contains("failed gpt-partition x;reboot y (a malformed line"), "\(outcome.log)")
    }

    @Test("the list round-trips; the function parses with sh -n and bash -n")
    func listAndSyntax() throws {
        let changes: [NextBootPartitionTables.Change] = [.init(type: "gpt-disk", old: "08581d48-9142-644d-9554-aae93cf4dea1", new: "1A2157DF-3762-47EF-B382-F7FC88870F61"),
                                                         .init(type: "mbr-disk", old: "1234abcd", new: "0x5678ef01")]
        let root = try FixtureRoot.debianLike()
        defer { root.remove() }
        try root.write(NextBootPartitionTables.pendingFile, NextBootPartitionTables.text(changes) + "bogus line\n")
        #expect(try NextBootPartitionTables.pending(in: RootDirectory(path: root.path)) == changes)
        #expect(changes[1].newAsBlkidPrintsIt == "5678ef01")
        for shell in ["sh", "bash"] {
            for script in [NextBootPartitionTables.function, DracutNextBootModule.job, InitramfsComponent.premountScript] {
                let result = try HostCommand.run(shell, ["-n", "-c", script])
                #expect(result.exitCode == 0, "\(shell) -n: \(result)")
            }
        }
    }
}
