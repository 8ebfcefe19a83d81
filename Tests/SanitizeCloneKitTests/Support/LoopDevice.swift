import Foundation
import Testing

/// A sparse image file in a temporary directory, attached to a free loop device for one test.
///
/// `LoopDevice.with(size:) { loop in … }` always undoes what it set up, in reverse order, whether
/// the body returned, threw or failed an expectation: it unmounts what the test mounted through
/// it, detaches the one device `losetup --find --show` gave it (never any other), and removes the
/// directory with the image. Filesystems are made with `format(_:_:)`.
final class LoopDevice {
    /// The loop devices still backed by `image` (`losetup -j`), once the kernel has released
    /// those of a finished command: waits up to 10 s for them to go.
    static func attachments(backedBy image: String) throws -> String {
        for _ in 0..<100 {
            let now = try HostCommand.run("losetup", ["-j", image]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            if now.isEmpty { return now }
            usleep(100_000)
        }
        return try HostCommand.run("losetup", ["-j", image]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The loop device node, e.g. /dev/loop3.
    let path: String
    /// The temporary directory holding the image, key files and mount points.
    let directory: String
    /// The image file behind the device.
    let image: String
    private var mountPoints: [String] = []
    private var mountCount = 0

    private init(path: String, directory: String, image: String) {
        self.path = path
        self.directory = directory
        self.image = image
    }

    /// Runs `body` with a fresh, all-zero device of `size` bytes (a sparse file), or with the
    /// image `prepare` writes into the given path; `partitions` asks the kernel to scan for them.
    static func with<Result>(size: Int64 = 1 << 30, partitions: Bool = false,
                             prepare: ((String) throws -> Void)? = nil,
                             _ body: (LoopDevice) throws -> Result) throws -> Result {
        let directory = try Scratch.makeDirectory(prefix: "loop")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let image = directory + "/disk.img"
        if let prepare {
            try prepare(image)
        } else {
            try HostCommand.succeed("truncate", ["-s", String(size), image])
        }
        let attached = try HostCommand.succeed("losetup", ["--find", "--show"] + (partitions ? ["--partscan"] : []) + [image])
        let device = attached.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        guard device.hasPrefix("/dev/loop") else { throw FixtureError("losetup printed no loop device: \(attached)") }
        let loop = LoopDevice(path: device, directory: directory, image: image)
        defer { loop.release() }
        return try body(loop)
    }

    /// Runs a mkfs-like program on the device: `program arguments… DEVICE`.
    func format(_ program: String, _ arguments: [String] = []) throws {
        try HostCommand.succeed(program, arguments + [path])
    }

    /// Mounts the device (or `source`, another path to it) on a new directory and returns it;
    /// the mount is undone when the loop device is released, or earlier by `unmount(_:)`.
    @discardableResult
    func mount(_ source: String? = nil, options: [String] = []) throws -> String {
        mountCount += 1
        let point = directory + "/mnt\(mountCount)"
        try FileManager.default.createDirectory(atPath: point, withIntermediateDirectories: false)
        try HostCommand.succeed("mount", options + [source ?? path, point])
        mountPoints.append(point)
        return point
    }

    /// Unmounts a mount point `mount` returned, retrying for a moment while it is busy.
    func unmount(_ point: String) throws {
        var attempt = 0
        while true {
            let result = try HostCommand.run("umount", [point])
            if result.exitCode == 0 { break }
            attempt += 1
            guard result.stderr.contains("busy"), attempt < 10 else { throw FixtureError("set-up command failed: \(result)") }
            usleep(200_000)
        }
        mountPoints.removeAll { $0 == point }
    }

    /// Writes `count` small files (`file0`… holding "file N") under a mount point, from a child
    /// shell: a descriptor this process opened on the mount could leak into a program another
    /// test spawns at that moment, and keep the mount busy.
    func writeFiles(_ count: Int, into point: String) throws {
        try HostCommand.succeed("sh", ["-c", "i=0; while [ $i -lt \(count) ]; do echo \"file $i\" > \"$1/file$i\"; i=$((i+1)); done", "sh", point])
    }

    /// One value of `blkid -p` (the device itself, never the cache), nil when blkid finds none.
    func blkid(_ tag: String) throws -> String? {
        let result = try HostCommand.run("blkid", ["-p", "-s", tag, "-o", "value", path])
        let value = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        return value.isEmpty ? nil : value
    }

    /// Unmounts (lazily when a plain umount fails), detaches our device, and forgets it.
    private func release() {
        for point in mountPoints.reversed() {
            if (try? HostCommand.run("umount", [point]).exitCode) != 0 {
                _ = try? HostCommand.run("umount", ["-l", point])
            }
        }
        mountPoints.removeAll()
        // Only the device losetup handed us, and only while it still shows our image behind it.
        if let backing = try? HostCommand.run("losetup", ["--noheadings", "--output", "BACK-FILE", path]),
           backing.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == URL(fileURLWithPath: image).resolvingSymlinksInPath().path {
            _ = try? HostCommand.run("losetup", ["-d", path])
        }
    }
}

/// Conditions for the storage tests: root to attach loop devices, and the filesystem tools.
enum StorageTools {
    /// True when every program in `names` is on PATH.
    static func available(_ names: String...) -> Bool {
        names.allSatisfy(HostCommand.isAvailable)
    }
}
