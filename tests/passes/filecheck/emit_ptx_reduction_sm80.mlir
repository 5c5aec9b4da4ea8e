// RUN: tensorir-opt %s --emit=ptx --chip sm_80 | filecheck %s
// A row sum of float64: one block per row, warp butterflies over five offsets (the 64-bit
// value travels as two 32-bit shuffles), a workgroup slot per warp, barriers.

// CHECK: .version 7.0
// CHECK: .target sm_80
// CHECK: .visible .entry f_0_sum(
// CHECK: .shared .align 8 .b8
// CHECK: ld.global.nc.b64
// CHECK: shfl.sync.bfly.b32 {{.*}}, 16, 31, -1;
// CHECK: shfl.sync.bfly.b32 {{.*}}, 1, 31, -1;
// CHECK: bar.sync 0;
func.func @f(%x: tensor<?x?xf64>) -> tensor<?xf64> {
  %0 = "tir.sum"(%x) {axis = array<i64: 1>, keepdims = false} : (tensor<?x?xf64>) -> tensor<?xf64>
  func.return %0 : tensor<?xf64>
}
