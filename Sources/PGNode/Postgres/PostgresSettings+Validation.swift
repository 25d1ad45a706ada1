import HACore

extension PostgresSettings {
    /// The longest socket directory that still fits Postgres' socket file
    /// (`<dir>/.s.PGSQL.<port>`) into `sockaddr_un.sun_path` (108 bytes with the terminator).
    static let maxSocketPathBytes = 107

    /// Every problem with `settings`, one sentence each naming the key, the value and what is
    /// allowed; empty when the settings are usable. Looks at values only (no file system).
    public static func validate(_ settings: PostgresSettings) -> [String] {
        var problems: [String] = []
        func absolute(_ key: String, _ path: String) {
            if !path.hasPrefix("/") { problems.append("\(key) '\(path)' must be an absolute path") }
            if path.contains("\n") || path.contains("'") {
                problems.append("\(key) '\(path)' may not contain a newline or a single quote")
            }
        }
        if settings.memberName.isEmpty { problems.append("memberName is empty; name this member") }
        if settings.memberName.contains(where: { $0.isNewline }) {
            problems.append("memberName may not contain a newline")
        }
        absolute("binDirectory", settings.binDirectory)
        absolute("dataDirectory", settings.dataDirectory)
        absolute("socketDirectory", settings.socketDirectory)
        absolute("logFile", settings.logFile)
        if settings.dataDirectory.count > 1, settings.dataDirectory.hasSuffix("/") {
            problems.append("dataDirectory '\(settings.dataDirectory)' must not end with '/'")
        }
        if !(1...65535).contains(settings.port) { problems.append("port \(settings.port) is not in 1...65535") }
        let socketPath = settings.socketDirectory + "/.s.PGSQL.\(settings.port)"
        if socketPath.utf8.count > maxSocketPathBytes {
            problems.append("socketDirectory '\(settings.socketDirectory)' is too long: the socket path '\(socketPath)' has \(socketPath.utf8.count) bytes, at most \(maxSocketPathBytes) fit; choose a shorter directory")
        }
        if settings.listenHost.isEmpty || settings.listenHost.contains("'") {
            problems.append("listenHost '\(settings.listenHost)' must be a non-empty address list without quotes")
        }
        for (key, credentials) in [("superuser", settings.superuser), ("replication", settings.replication)] {
            if credentials.user.isEmpty { problems.append("\(key).user is empty") }
            if credentials.user.contains(where: { $0.isNewline || $0 == "\"" }) {
                problems.append("\(key).user '\(credentials.user)' may not contain a newline or a double quote")
            }
            if let p = credentials.password, p.contains(where: { $0.isNewline }) {
                problems.append("\(key).password may not contain a newline")
            }
        }
        if let runAs = settings.runAs, runAs.isEmpty || runAs == "root" {
            problems.append("runAs '\(runAs)' must name an unprivileged OS user (Postgres refuses root)")
        }
        for key in settings.parameters.keys.sorted() {
            let lower = key.lowercased()
            if reservedParameters.contains(lower) {
                problems.append("parameters.\(key) is set by pgha itself and may not be overridden (pgha owns \(reservedParameters.sorted().joined(separator: ", ")))")
            } else if !isParameterName(lower) {
                problems.append("parameters.\(key) is not a Postgres setting name (letters, digits, '_' and '.', starting with a letter or '_')")
            }
            if settings.parameters[key]!.contains(where: { $0.isNewline }) {
                problems.append("parameters.\(key) may not contain a newline")
            }
        }
        for (i, line) in settings.pgHba.enumerated() where line.contains(where: { $0.isNewline }) {
            problems.append("pgHba[\(i)] must be one line")
        }
        if settings.transferTimeout <= .zero { problems.append("transferTimeout must be positive") }
        return problems
    }

    private static func isParameterName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || ("a"..."z").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || $0 == "." || ("a"..."z").contains($0) || ("0"..."9").contains($0) }
    }
}

extension DynamicPostgres {
    /// `section.name` of every parameter here that pgha sets itself
    /// (`PostgresSettings.reservedParameters`), sorted.
    public var reservedNames: [String] {
        [("parameters", parameters), ("parameters_primary", parametersPrimary), ("parameters_replica", parametersReplica)]
            .flatMap { section, p in
                p.keys.filter { PostgresSettings.reservedParameters.contains($0.lowercased()) }.sorted().map { "\(section).\($0)" }
            }
    }
}
