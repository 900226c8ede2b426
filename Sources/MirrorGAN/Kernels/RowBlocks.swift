/// The scaffolding shared by the blocked convolution kernels (Winograd F(2, 3) and F(4, 3), the upsampling
/// phase convolution): bind the operands' storage once, then walk each image in blocks of rows (tile rows
/// for the Winograd kernels, input rows for the phase convolution) whose transform buffers fit the
/// per-thread scratch. Each kernel supplies only what it does with one block.

/// Raw operands of one blocked-kernel call, valid inside `forEachRowBlock`'s body.
struct BlockedOperands {
    /// The input `[N, C, H, W]`.
    let x: UnsafePointer<Float>
    /// The kernel's prepared weights (transformed, or summed per phase).
    let weights: UnsafeBufferPointer<Float>
    /// One bias per (pre-GLU) output channel.
    let bias: UnsafePointer<Float>
    /// The residual to add (`ConvEpilogue.residual`), if any.
    let residual: UnsafePointer<Float>?
    /// The output, every element of which the kernel writes.
    let out: UnsafeMutablePointer<Float>
}

/// Calls `body(operands, image, first, count)` for the blocks [first, first + count) of `rows` rows, at most
/// `rowsPerBlock` each, of every image in turn.
func forEachRowBlock(x: Tensor, weights: [Float], bias: [Float], residual: Tensor?, out: TensorBuffer,
                     images: Int, rows: Int, rowsPerBlock: Int,
                     _ body: (BlockedOperands, _ image: Int, _ first: Int, _ count: Int) -> Void) {
    precondition(rowsPerBlock >= 1, "forEachRowBlock: rowsPerBlock must be ≥ 1")
    withOptionalPointer(residual) { rp in
        x.withUnsafeBufferPointer { xb in
            weights.withUnsafeBufferPointer { wb in
                bias.withUnsafeBufferPointer { bb in
                    out.withFreshStorage { ob in
                        guard let xp = xb.baseAddress, let bp = bb.baseAddress, let op = ob.baseAddress else { return }
                        let operands = BlockedOperands(x: xp, weights: wb, bias: bp,
                                                       residual: rp, out: op)
                        for image in 0..<images {
                            var first = 0
                            while first < rows {
                                let count = min(rowsPerBlock, rows - first)
                                body(operands, image, first, count)
                                first += count
                            }
                        }
                    }
                }
            }
        }
    }
}
