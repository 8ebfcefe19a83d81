import Foundation
import SanitizeCloneKit
import Testing

/// The next-boot path's initramfs script, run with sh against loop devices the test attaches (as
/// the initramfs would run it before anything is mounted): it sets each pending UUID, points ROOT
/// and RESUME at the new ones through param.conf, logs every step, and does nothing twice.
@Suite("The initramfs script that sets a clone's own filesystem UUIDs", .requiresRoot, .serialized,
       .enabled(if: StorageTools.available("mkfs.ext4", "mkswap", "tune2fs", "swaplabel")))
struct NextBootUUIDsTests {
    @Test("sets every pending UUID, points ROOT and RESUME at the new ones, and a second run changes nothing")
    func setsPendingUUIDs() throws {
        try LoopDevice.with(size: 64 << 20) { root in
            try root.format("mkfs.ext4", ["-q", "-F"])
            try LoopDevice.with(size: 16 << 20) { swap in
                try swap.format("mkswap", ["-q"])
                let oldRoot = try #require(try root.blkid("UUID")), oldSwap = try #require(try swap.blkid("UUID"))
                let newRoot = UUID().uuidString.lowercased(), newSwap = UUID().uuidString.lowercased()
                let directory = root.directory
                try "# pending\next4 \(oldRoot) \(newRoot)\nswap \(oldSwap) \(newSwap)\nxfs 0b7e5cc4-6a0e-4c8c-8d25-3f3a3e0d9d11 9f3f0e2a-1111-4c8c-8d25-3f3a3e0d9d11\n"
                    .write(toFile: directory + "/pending", atomically: true, encoding: .utf8)
                try NextBootUUIDs.script.write(toFile: directory + "/script", atomically: true, encoding: .utf8)
                let environment = ["SANITIZE_CLONE_PENDING": directory + "/pending", "SANITIZE_CLONE_PARAMS": directory + "/param.conf",
                                   "SANITIZE_CLONE_LOG": directory + "/log", "ROOT": "UUID=\(oldRoot)", "RESUME": "UUID=\(oldSwap)"]
                let first = try HostCommand.run("sh", [directory + "/script"], environment: environment)
                #expect(first.exitCode == 0, "\(first)")
                #expect(try root.blkid("UUID") == newRoot)
                #expect(try swap.blkid("UUID") == newSwap)
                let params = try String(contentsOfFile: directory + "/param.conf", encoding: .utf8)
                #expect(params == "ROOT=UUID=\(newRoot)\nRESUME=UUID=\(newSwap)\n", "\(params)")
                var log = try String(contentsOfFile: directory + "/log", encoding: .utf8)
                #expect(log.contains("done ext4 \(oldRoot) \(newRoot) \(root.path)") && log.contains("done swap \(oldSwap) \(newSwap) \(swap.path)"), "\(log)")
                #expect(log.contains("missing xfs"), "a device that is not there is logged, not guessed: \(log)")
                #expect(try HostCommand.run("e2fsck", ["-fn", root.path]).exitCode == 0)

                let second = try HostCommand.run("sh", [directory + "/script"], environment: environment)
                #expect(second.exitCode == 0, "\(second)")
                log = try String(contentsOfFile: directory + "/log", encoding: .utf8)
                #expect(log.contains("done ext4 \(oldRoot) \(newRoot) (already set)"), "\(log)")
                #expect(try root.blkid("UUID") == newRoot)
            }
        }
    }

    @Test("the hook copies the tools and the pending list into the initramfs, through initramfs-tools' own functions")
    func hookText() {
        #expect(NextBootUUIDs.hook.hasPrefix("#!/bin/sh\n"))
        #expect(NextBootUUIDs.hook.contains(". /usr/share/initramfs-tools/hook-functions"))
        #expect(NextBootUUIDs.hook.contains("copy_exec \"$tool\""))
        #expect(NextBootUUIDs.hook.contains("cp \(NextBootUUIDs.pendingFile) \"$DESTDIR/conf/sanitize-clone-uuids\""))
    }
}
