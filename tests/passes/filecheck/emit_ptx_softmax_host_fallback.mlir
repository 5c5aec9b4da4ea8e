// RUN: tensorir-opt %s --emit=ptx --chip sm_90 | filecheck %s
// The row kernels of the softmax family, and a product, which runs on the host until the cuBLAS
// calls are written (a note says so before the PTX).

// CHECK: // @f: tir.dot: NumPy reference on the host (the cuBLAS calls are not written yet)
// CHECK: .target sm_90
// CHECK: .visible .entry f_0_softmax(
// CHECK: shfl.sync.bfly
// CHECK: .visible .entry f_1_softmax_crossentropy(
// CHECK: ld.global.nc.b32
// CHECK-NOT: .entry f_2
func.func @f(%x: tensor<?x?xf32>, %y: tensor<?xi32>) -> (tensor<?x?xf32>, tensor<?xf32>, tensor<?x?xf32>) {
  %0 = "tir.softmax"(%x) : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %1 = "tir.softmax_crossentropy"(%x, %y) : (tensor<?x?xf32>, tensor<?xi32>) -> tensor<?xf32>
  %2 = "tir.dot"(%x, %x) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  func.return %0, %1, %2 : tensor<?x?xf32>, tensor<?xf32>, tensor<?x?xf32>
}
