import NIOCore

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `::1/128`) or a single address, for the REST API's
/// `allowlist`.
public struct NetworkRange: Sendable, Hashable, CustomStringConvertible {
    /// The network's address bytes (4 or 16).
    public let bytes: [UInt8]
    public let prefixLength: Int

    /// Parses `address` or `address/prefix`; nil if it is neither.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = try? SocketAddress(ipAddress: String(parts[0]), port: 0),
              let raw = Self.bytes(of: address) else { return nil }
        let maxPrefix = raw.count * 8
        if parts.count == 2 {
            guard let p = Int(parts[1]), (0...maxPrefix).contains(p) else { return nil }
            prefixLength = p
        } else {
            prefixLength = maxPrefix
        }
        bytes = raw
    }

    /// Whether `address` lies in the network (an IPv4-mapped IPv6 address counts as IPv4).
    public func contains(_ address: SocketAddress) -> Bool {
        guard var other = Self.bytes(of: address) else { return false }
        if other.count == 16, bytes.count == 4, other[0..<10].allSatisfy({ $0 == 0 }), other[10] == 0xff, other[11] == 0xff {
            other = Array(other[12...])
        }
        guard other.count == bytes.count else { return false }
        var remaining = prefixLength
        for i in 0..<bytes.count where remaining > 0 {
            let bits = min(8, remaining)
            let mask: UInt8 = bits == 8 ? 0xff : ~(0xff >> UInt8(bits))
            if bytes[i] & mask != other[i] & mask { return false }
            remaining -= bits
        }
        return true
    }

    public var description: String { "\(bytes.count == 4 ? bytes.map(String.init).joined(separator: ".") : "ipv6")/\(prefixLength)" }

    static func bytes(of address: SocketAddress) -> [UInt8]? {
        switch address {
        case .v4(let a):
            return withUnsafeBytes(of: a.address.sin_addr) { Array($0) }
        case .v6(let a):
            return withUnsafeBytes(of: a.address.sin6_addr) { Array($0) }
        default:
            return nil
        }
    }
}
