import Foundation

/// A Debian `haproxy` process started on a configuration of our own (the real-cluster tests
/// and the benchmark put it in front of a `LocalAgentCluster`). Ended by its PID only.
public final class HAProxyProcess: Sendable {
    public let configPath: String
    public let pid: Int32
    private let process: SendableProcess

    /// The `haproxy` binary on PATH (or in /usr/sbin), nil when it is not installed.
    public static func locate() -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/sbin", "/usr/bin"] {
            let path = dir + "/haproxy"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Writes `config` to `directory/haproxy.cfg`, checks it (`haproxy -c`) and starts HAProxy in
    /// the foreground (`-db`), its output to `directory/haproxy.log`.
    public convenience init(config: HAProxyConfig, directory: String) throws {
        try self.init(configText: config.text, directory: directory)
    }

    /// The same with the configuration's text (what `pgha haproxy-config` printed).
    public init(configText: String, directory: String) throws {
        guard let binary = Self.locate() else {
            throw StartRefused(reason: "haproxy is not installed (Debian: apt-get install haproxy)")
        }
        configPath = directory + "/haproxy.cfg"
        try configText.write(toFile: configPath, atomically: true, encoding: .utf8)
        let check = Process()
        check.executableURL = URL(fileURLWithPath: binary)
        check.arguments = ["-c", "-q", "-f", configPath]
        try check.run()
        check.waitUntilExit()
        guard check.terminationStatus == 0 else { throw StartRefused(reason: "haproxy rejects \(configPath) (haproxy -c -f \(configPath))") }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["-db", "-f", configPath]
        let logPath = directory + "/haproxy.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        p.standardOutput = log
        p.standardError = log
        p.standardInput = FileHandle.nullDevice
        try p.run()
        try? log.close()
        process = SendableProcess(p)
        pid = p.processIdentifier
    }

    /// Stops it (SIGTERM, then SIGKILL after 5 s) and waits for it.
    public func stop() {
        guard process.value.isRunning else { return }
        kill(pid, SIGTERM)
        let end = Date().addingTimeInterval(5)
        while process.value.isRunning && Date() < end { usleep(20_000) }
        if process.value.isRunning { kill(pid, SIGKILL) }
        process.value.waitUntilExit()
    }
}

/// A `Process` used only through `HAProxyProcess`'s methods.
struct SendableProcess: @unchecked Sendable {
    let value: Process
    init(_ value: Process) { self.value = value }
}
