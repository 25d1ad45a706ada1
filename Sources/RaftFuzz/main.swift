// libFuzzer entry points for RaftCore.
//
// Fuzz build (libFuzzer drives `raftFuzzOne`):
//   swift build --product RaftFuzz --scratch-path .build-fuzz \
//     -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING
//   .build-fuzz/debug/RaftFuzz -max_total_time=60 Tests/Fuzz/codec-corpus/
// Plain build (regression replay): `RaftFuzz FILE_OR_DIR...` runs every file through
// `raftFuzzOne` and prints how many it replayed.
//
// `RAFT_FUZZ_TARGET` selects what the input bytes mean; `codec` (the default) feeds them to
// the wire decoder, `sim` turns them into a fault schedule for the simulator. To add a target, add a case to `FuzzTarget` and a branch in `run(_:)`.

import RaftCore
import RaftSim
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `message` to standard error.
func printError(_ message: String) {
    var line = Array("RaftFuzz: \(message)\n".utf8)
    _ = line.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
}

/// Reports a violated property and aborts, so libFuzzer records the input as a crash.
func fail(_ message: String) -> Never {
    printError(message)
    abort()
}

/// The fuzz targets this executable knows, selected once per process by `RAFT_FUZZ_TARGET`.
enum FuzzTarget: String {
    case codec
    case sim

    /// The target named by `RAFT_FUZZ_TARGET`, or `codec` if unset. An unknown name aborts,
    /// so a typo cannot silently fuzz the wrong thing.
    static let selected: FuzzTarget = {
        guard let raw = getenv("RAFT_FUZZ_TARGET") else { return .codec }
        let name = String(cString: raw)
        guard let target = FuzzTarget(rawValue: name) else {
            fail("unknown RAFT_FUZZ_TARGET '\(name)'")
        }
        return target
    }()

    func run(_ bytes: [UInt8]) {
        switch self {
        case .codec: fuzzCodec(bytes)
        case .sim: fuzzSimulation(bytes)
        }
    }
}

/// The codec property: decoding arbitrary bytes never traps, and whatever decodes is the
/// canonical encoding of its message (re-encoding gives the same bytes) and decodes again
/// to the same message. Aborts on a violation.
func fuzzCodec(_ bytes: [UInt8]) {
    guard let message = try? WireCodec.decode(bytes) else { return }
    let again = WireCodec.encode(message)
    guard again == bytes else {
        fail("re-encoding \(message) gave different bytes")
    }
    guard let back = try? WireCodec.decode(again), back == message else {
        fail("\(message) did not survive a second round trip")
    }
    // The framed form must give back the same message too.
    var framed = WireCodec.frame(message)[...]
    guard let unframed = try? WireCodec.nextFrame(in: &framed, maxFrameSize: Int.max),
          unframed == message, framed.isEmpty else {
        fail("framing \(message) did not round-trip")
    }
}

/// The simulator property: whatever fault schedule the bytes describe, no safety property,
/// liveness after healing, or linearizability is violated. Aborts with the report otherwise.
func fuzzSimulation(_ bytes: [UInt8]) {
    let result = Simulation.run(FuzzedSchedule.options(from: bytes))
    if let v = result.violation {
        fail("simulation violated \(v.property):\n\(result.report)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func raftFuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    FuzzTarget.selected.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ cb: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt
var argc = CommandLine.argc; var argv = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv, raftFuzzOne))
#else
/// The contents of the file at `path`, or nil if it cannot be read.
func readFile(_ path: String) -> [UInt8]? {
    guard let f = fopen(path, "rb") else { return nil }
    defer { fclose(f) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
        if n > 0 { bytes.append(contentsOf: chunk[0 ..< n]) }
        if n < chunk.count { break }
    }
    return ferror(f) == 0 ? bytes : nil
}

/// The regular files directly inside `path` if it is a directory (sorted), else `[path]`.
func inputFiles(_ path: String) -> [String] {
    guard let dir = opendir(path) else { return [path] }
    defer { closedir(dir) }
    var names: [String] = []
    while let entry = readdir(dir) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        if name != "." && name != ".." && !name.hasPrefix(".") { names.append(path + "/" + name) }
    }
    return names.sorted()
}

var replayed = 0
for argument in CommandLine.arguments.dropFirst() {
    for path in inputFiles(argument) {
        guard let bytes = readFile(path) else {
            printError("cannot read \(path)")
            exit(1)
        }
        _ = bytes.withUnsafeBufferPointer { buf in
            // A zero-length file has no base address; replay it through a one-byte buffer
            // with size 0.
            if let base = buf.baseAddress { return raftFuzzOne(base, buf.count) }
            var zero: UInt8 = 0
            return raftFuzzOne(&zero, 0)
        }
        replayed += 1
    }
}
print("RaftFuzz: replayed \(replayed) inputs (target \(FuzzTarget.selected.rawValue))")
#endif
