import Foundation

/// A task executor with one thread of its own that ends when asked: code run under
/// `withTaskExecutorPreference(executor)` runs its synchronous parts on that thread, so a test
/// can make a request from a thread and then let the thread die.
final class ShortLivedThreadExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs`, `finishing` and `jobsRun` are guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var finishing = false
    private var jobsRun = 0
    private var thread: Thread?

    init() {
        let thread = Thread { [self] in self.run() }
        thread.name = "pgha-test-short-lived"
        self.thread = thread
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    /// How many jobs ran on the thread.
    var jobCount: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobsRun
    }

    /// Lets the thread end once the queue is empty.
    func finish() {
        condition.lock()
        finishing = true
        condition.signal()
        condition.unlock()
    }

    /// Whether the thread has ended.
    var threadFinished: Bool { thread?.isFinished ?? true }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !finishing { condition.wait() }
            if jobs.isEmpty {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            jobsRun += 1
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
