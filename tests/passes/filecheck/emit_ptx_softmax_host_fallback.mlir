// RUN: tensorir-opt %s --emit=ptx --chip sm_90 | filecheck %s
// The row kernels of the softmax family; a float product, which is a cuBLAS call, and an int
// product, which cuBLAS does not take and runs on the host (notes say so before the PTX).

// CHECK: // @f: tir.dot: BLAS call on the GPU
// CHECK: // @f: tir.dot: NumPy reference on the host (cuBLAS runs float32 and float64 gemm, gemv, dot of a matrix with a matrix or a vector, and batched_dot of stacks of matrices; this form runs on the host)
// CHECK: .target sm_90
// CHECK: .visible .entry f_0_softmax(
// CHECK: shfl.sync.bfly
// CHECK: .visible .entry f_1_softmax_crossentropy(
// CHECK: ld.global.nc.b32
// CHECK-NOT: .entry f_2
func.func @f(%x: tensor<?x?xf32>, %y: tensor<?xi32>, %n: tensor<?x?xi32>) -> (tensor<?x?xf32>, tensor<?xf32>, tensor<?x?xf32>, tensor<?x?xi32>) {
  %0 = "tir.softmax"(%x) : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %1 = "tir.softmax_crossentropy"(%x, %y) : (tensor<?x?xf32>, tensor<?xi32>) -> tensor<?xf32>
  %2 = "tir.dot"(%x, %x) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %3 = "tir.dot"(%n, %n) : (tensor<?x?xi32>, tensor<?x?xi32>) -> tensor<?x?xi32>
  func.return %0, %1, %2, %3 : tensor<?x?xf32>, tensor<?xf32>, tensor<?x?xf32>, tensor<?x?xi32>
}
