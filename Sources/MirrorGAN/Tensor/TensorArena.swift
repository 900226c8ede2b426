/// A thread's pool of tensor memory: kernels take their outputs' buffers from it, and a buffer goes back
/// to it by itself when the last tensor using it is dropped, so that a request in steady state takes
/// every buffer it needs from memory the previous request used, and calls malloc for none of them.
///
/// Like llama.cpp's graph allocator this reuses memory between the layers of a forward pass, but instead
/// of planning the pass ahead it lets reference counting say when memory is free: the arena keeps a strong
/// reference to each storage it made, and a storage whose only reference is the arena's
/// (`isKnownUniquelyReferenced`) belongs to no tensor any more. Storages come in power-of-two capacities,
/// and one serves any request in (capacity / 2, capacity]: a forward pass asks for the same sizes every
/// time, so after the first request every request finds its memory, and layers of nearby sizes share
/// storages instead of each keeping its own (with exact sizes the default model's bench process peaked at
/// 215 MiB; pages past a tensor's end are never touched, so the rounding costs address space, not resident
/// memory).
///
/// One arena per thread (a server worker, a test), reached through the thread's `ThreadScratch`: no locks.
/// A tensor may still be passed to and dropped on another thread (reference counts are atomic); its
/// storage becomes free for the arena of the thread that made it.
final class TensorArena {
    /// Bytes an arena may keep. Past it, free storages are dropped first, and if that is not enough the new
    /// storage is made outside the arena (ordinary memory, freed with its last tensor). A whole request
    /// keeps ~29 MiB with the default model and ~82 MiB at the official-birds widths (`mirrorgan bench`
    /// prints `tensor_arena_mib`).
    static let defaultLimitBytes = 512 << 20

    /// Storages of one capacity.
    private final class Bucket {
        var storages: [TensorStorage] = []
    }

    private var buckets: [Int: Bucket] = [:]
    private let limitBytes: Int

    /// Bytes of all storages the arena holds (lent or free).
    private(set) var heldBytes = 0
    /// Storages handed out again from the pool.
    private(set) var reuses = 0
    /// Storages that had to be made (pooled or not).
    private(set) var misses = 0

    init(limitBytes: Int = TensorArena.defaultLimitBytes) {
        self.limitBytes = limitBytes
    }

    /// The calling thread's arena.
    static var current: TensorArena { ThreadScratch.mine.arena }

    /// A storage of at least `count` floats that no tensor uses (contents undefined).
    func take(_ count: Int) -> TensorStorage {
        let capacity = TensorArena.capacity(for: count)
        if let bucket = buckets[capacity] {
            for i in bucket.storages.indices where isKnownUniquelyReferenced(&bucket.storages[i]) {
                reuses += 1
                return bucket.storages[i]
            }
        }
        misses += 1
        let bytes = capacity * MemoryLayout<Float>.stride
        if heldBytes + bytes > limitBytes { dropFree() }
        guard heldBytes + bytes <= limitBytes else { return TensorStorage(capacity: count, pooled: false) }
        let storage = TensorStorage(capacity: capacity, pooled: true)
        heldBytes += bytes
        if let bucket = buckets[capacity] {
            bucket.storages.append(storage)
        } else {
            let bucket = Bucket()
            bucket.storages.append(storage)
            buckets[capacity] = bucket
        }
        return storage
    }

    /// The power of two ≥ `count` (at least 16 floats, one cache line).
    static func capacity(for count: Int) -> Int {
        count <= 16 ? 16 : 1 << (Int.bitWidth - (count - 1).leadingZeroBitCount)
    }

    /// Releases every storage no tensor uses (the lent ones stay until their tensors are gone).
    func dropFree() {
        for (capacity, bucket) in buckets {
            let before = bucket.storages.count
            var kept: [TensorStorage] = []
            for i in bucket.storages.indices where !isKnownUniquelyReferenced(&bucket.storages[i]) {
                kept.append(bucket.storages[i])
            }
            heldBytes -= (before - kept.count) * capacity * MemoryLayout<Float>.stride
            if kept.isEmpty { buckets[capacity] = nil } else { bucket.storages = kept }
        }
    }

    /// Storages held (lent or free).
    var storageCount: Int { buckets.values.reduce(0) { $0 + $1.storages.count } }
}
