#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import Testing
@testable import PGNode

private func watchdogTestLogger() -> Logger {
    var l = Logger(label: "test.watchdog")
    l.logLevel = .critical
    return l
}

/// Never opens a real watchdog device: the paths are missing ones or regular temporary files.
@Suite struct WatchdogTests {
    let missing = "/nonexistent-pgha-test/watchdog"

    func temporaryFile() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("not-a-watchdog-\(UUID().uuidString)").path
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        return path
    }

    @Test func requiredFailsWithAClearErrorWhenTheDeviceIsMissing() {
        let w = Watchdog(settings: WatchdogSettings(mode: .required, device: missing), logger: watchdogTestLogger())
        #expect {
            try w.activate(timeoutSeconds: 1)
        } throws: { error in
            guard case .cannotOpen(let device, let reason)? = error as? WatchdogError else { return false }
            let text = "\(error)"
            return device == missing && reason.contains("No such file") && text.contains(missing) && text.contains("modprobe")
        }
        #expect(w.status == .off)
        #expect(!w.keepalive())
        w.disable()
    }

    @Test func automaticDegradesWhenTheDeviceIsMissing() throws {
        let w = Watchdog(settings: WatchdogSettings(mode: .automatic, device: missing), logger: watchdogTestLogger())
        let status = try w.activate(timeoutSeconds: 1)
        guard case .unavailable(let reason) = status else {
            Issue.record("expected unavailable, got \(status)")
            return
        }
        #expect(reason.contains(missing))
        #expect(w.status == status)
        #expect(!w.keepalive())  // nothing to keep alive, no crash
        w.disable()
    }

    @Test func offNeverTouchesTheDevice() throws {
        let path = temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        chmod(path, 0o000)  // an open would fail, which activate would report; off must not try
        let w = Watchdog(settings: WatchdogSettings(mode: .off, device: path), logger: watchdogTestLogger())
        #expect(try w.activate(timeoutSeconds: 1) == .off)
        #expect(w.status == .off)
        w.disable()
        chmod(path, 0o600)
        #expect(FileManager.default.contents(atPath: path) == Data())
    }

    @Test func aDeviceThatTakesNoTimeoutFailsRequiredAndIsMagicClosed() {
        let path = temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let w = Watchdog(settings: WatchdogSettings(mode: .required, device: path), logger: watchdogTestLogger())
        #expect {
            try w.activate(timeoutSeconds: 1)
        } throws: { error in
            guard case .cannotSetTimeout(let device, 1, _)? = error as? WatchdogError else { return false }
            return device == path && "\(error)".contains("WDIOC_SETTIMEOUT")
        }
        // It was opened, so it was closed with the magic "V" (a real device would stop its timer).
        #expect(FileManager.default.contents(atPath: path) == Data("V".utf8))
        #expect(w.status == .off)
    }

    @Test func aDeviceThatTakesNoTimeoutDegradesAutomatic() throws {
        let path = temporaryFile()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let w = Watchdog(settings: WatchdogSettings(mode: .automatic, device: path), logger: watchdogTestLogger())
        let status = try w.activate(timeoutSeconds: 1)
        guard case .unavailable(let reason) = status else {
            Issue.record("expected unavailable, got \(status)")
            return
        }
        #expect(reason.contains("did not accept a timeout"))
    }

    @Test func ioctlNumbersMatchLinuxEncoding() {
        func ioc(_ dir: UInt, _ nr: UInt, _ size: UInt) -> UInt { dir << 30 | size << 16 | UInt(UInt8(ascii: "W")) << 8 | nr }
        #expect(Watchdog.getSupport == ioc(2, 0, 40))
        #expect(Watchdog.keepAlive == ioc(2, 5, 4))
        #expect(Watchdog.setTimeout == ioc(3, 6, 4))
        #expect(Watchdog.getTimeout == ioc(2, 7, 4))
    }
}

/// Whether a softdog device that cannot reboot this machine is available, and which; or why not.
/// Loads `softdog soft_noboot=1` when root and modprobe exist (only when the device test runs: a
/// lazy global read from the test body, not from a trait evaluated at discovery). Never opens any device itself, and
/// names a device only if `/sys/module/softdog/parameters/soft_noboot` is `1` and sysfs says the
/// device is the software watchdog (a hardware /dev/watchdog could reset the machine).
let softdog: (device: String?, reason: String) = {
    func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
    let noboot = "/sys/module/softdog/parameters/soft_noboot"
    if !FileManager.default.fileExists(atPath: "/sys/module/softdog") {
        guard getuid() == 0 else { return (nil, "softdog is not loaded and the tests do not run as root to load it") }
        guard let modprobe = ["/usr/sbin/modprobe", "/sbin/modprobe", "/usr/bin/modprobe", "/bin/modprobe"]
            .first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return (nil, "softdog is not loaded and there is no modprobe to load it (no /dev/watchdog on this machine)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: modprobe)
        p.arguments = ["softdog", "soft_noboot=1"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return (nil, "cannot run \(modprobe): \(error)") }
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            return (nil, "`modprobe softdog soft_noboot=1` failed with status \(p.terminationStatus) (no softdog module in this kernel?)")
        }
    }
    guard read(noboot) == "1" else {
        return (nil, "softdog is loaded without soft_noboot=1: opening it could reboot the machine, so it is left alone")
    }
    let classDir = "/sys/class/watchdog"
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: classDir)) ?? []
    for entry in entries.sorted() where read("\(classDir)/\(entry)/identity") == "Software Watchdog" {
        let device = "/dev/\(entry)"
        if FileManager.default.fileExists(atPath: device) { return (device, "softdog at \(device) with soft_noboot=1") }
    }
    return (nil, "softdog is loaded but sysfs names no /dev/watchdogN as the software watchdog")
}()

@Suite(.serialized)
struct WatchdogDeviceTests {
    @Test func aRealSoftdogTakesTheTimeoutKeepaliveAndMagicClose() throws {
        guard let device = softdog.device else { try Test.cancel(Comment(rawValue: "skipped: \(softdog.reason)")) }
        // Re-check right before opening: never open a watchdog that could reboot the machine.
        let noboot = try String(contentsOfFile: "/sys/module/softdog/parameters/soft_noboot", encoding: .utf8)
        try #require(noboot.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
        let w = Watchdog(settings: WatchdogSettings(mode: .required, device: device), logger: watchdogTestLogger())
        let status = try w.activate(timeoutSeconds: 7)
        #expect(status == .active(timeoutSeconds: 7, identity: "Software Watchdog"))
        #expect(w.keepalive())
        #expect(try w.activate(timeoutSeconds: 3) == .active(timeoutSeconds: 3, identity: "Software Watchdog"))
        w.disable()
        #expect(w.status == .off)
        #expect(!w.keepalive())
    }
}
