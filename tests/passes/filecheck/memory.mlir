// RUN: tensorir-opt %s -p fuse,memory{donated=0} | filecheck %s

// The fused op may overwrite the dead temporary %t (operand 0), never the live %u or the
// caller's %x; the gemm accumulates in place into the donated argument %W.
// CHECK-LABEL: func.func @inplace
// CHECK: "tir.gemm"(%W, {{.*}}) {inplace = 0 : i64
// CHECK: "tir.fused"(%t, %x) ({
// CHECK: inplace = 0 : i64
func.func @inplace(%W: tensor<?x?xf64>, %x: tensor<?x?xf64>, %a: tensor<?x?xf64>, %b: tensor<?x?xf64>, %s: tensor<f64>) -> (tensor<?x?xf64>, tensor<?x?xf64>, tensor<?x?xf64>) {
  %u = "tir.gemm"(%W, %s, %a, %b, %s) : (tensor<?x?xf64>, tensor<f64>, tensor<?x?xf64>, tensor<?x?xf64>, tensor<f64>) -> tensor<?x?xf64>
  %t = "tir.gemm"(%s, %s, %a, %b, %s) : (tensor<f64>, tensor<f64>, tensor<?x?xf64>, tensor<?x?xf64>, tensor<f64>) -> tensor<?x?xf64>
  %0 = "tir.exp"(%t) : (tensor<?x?xf64>) -> tensor<?x?xf64>
  %1 = "tir.mul"(%x, %0) : (tensor<?x?xf64>, tensor<?x?xf64>) -> tensor<?x?xf64>
  func.return %u, %1, %x : tensor<?x?xf64>, tensor<?x?xf64>, tensor<?x?xf64>
}
