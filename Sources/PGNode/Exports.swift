// The cluster store's state machine and the HA keys' codec live in the pure `ClusterStore`
// module (the simulator runs them without NIO); `import PGNode` brings them along.
@_exported import ClusterStore
