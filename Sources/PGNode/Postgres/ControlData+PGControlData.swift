import Foundation
import HACore

extension ControlData {
    /// Reads the facts pgha needs from `pg_controldata`'s output (run with `LC_ALL=C`, so the
    /// labels are English); nil when one of them is missing or malformed.
    init?(pgControlDataOutput text: String) {
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            fields[key] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        guard let id = fields["Database system identifier"].flatMap({ UInt64($0) }),
              let timeline = fields["Latest checkpoint's TimeLineID"].flatMap({ UInt32($0) }),
              let state = fields["Database cluster state"] else { return nil }
        self.init(systemIdentifier: id, timeline: timeline, state: ClusterState(rawValue: state) ?? .unknown,
                  checkpointLocation: fields["Latest checkpoint location"].flatMap(LSN.init(parsing:)))
    }
}
