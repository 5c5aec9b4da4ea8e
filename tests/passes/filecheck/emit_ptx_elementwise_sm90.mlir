// RUN: tensorir-opt %s -p fuse --emit=ptx --chip sm_90 | filecheck %s
// A fused elementwise body with a broadcast operand: one strided grid-stride kernel whose
// operands are read through the read-only cache, for sm_90 in PTX ISA 8.0.

// CHECK: .version 8.0
// CHECK: .target sm_90
// CHECK: .visible .entry f_{{[0-9]+}}_fused(
// CHECK: mov.u32 {{.*}}%ctaid.x
// CHECK: ld.global.nc.b32
// CHECK: st.global.b32
// CHECK-NOT: .entry
func.func @f(%x: tensor<?x?xf32>, %b: tensor<?xf32>) -> tensor<?x?xf32> {
  %0 = "tir.add"(%x, %b) : (tensor<?x?xf32>, tensor<?xf32>) -> tensor<?x?xf32>
  %1 = "tir.tanh"(%0) : (tensor<?x?xf32>) -> tensor<?x?xf32>
  func.return %1 : tensor<?x?xf32>
}
