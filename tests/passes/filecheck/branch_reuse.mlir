// RUN: tensorir-opt %s -p branch-reuse | filecheck %s

// The product computed outside is passed into the branch instead of being recomputed there;
// the if moves below it, and x, w are no longer captured.
// CHECK-LABEL: func.func @reuse
// CHECK: %[[P:.*]] = "tir.gemm"(%c0, %c1, %x, %w, %c0)
// CHECK: "tir.if"(%b, %[[P]]) ({
// CHECK-NOT: tir.gemm
// CHECK: tir.tanh
// CHECK: }, {
// CHECK-NOT: tir.gemm
// CHECK: func.return
func.func @reuse(%b: tensor<i1>, %x: tensor<?x?xf64>, %w: tensor<?x?xf64>) -> (tensor<?x?xf64>, tensor<?x?xf64>) {
  %c0 = "tir.constant"() {value = dense<0.0> : tensor<f64>} : () -> tensor<f64>
  %c1 = "tir.constant"() {value = dense<1.0> : tensor<f64>} : () -> tensor<f64>
  %r = "tir.if"(%b, %x, %w) ({
  ^bb0(%x1: tensor<?x?xf64>, %w1: tensor<?x?xf64>):
    %d0 = "tir.constant"() {value = dense<0.0> : tensor<f64>} : () -> tensor<f64>
    %d1 = "tir.constant"() {value = dense<1.0> : tensor<f64>} : () -> tensor<f64>
    %p1 = "tir.gemm"(%d0, %d1, %x1, %w1, %d0) {inplace = unit, trans_a = false, trans_b = false} : (tensor<f64>, tensor<f64>, tensor<?x?xf64>, tensor<?x?xf64>, tensor<f64>) -> tensor<?x?xf64>
    %t = "tir.tanh"(%p1) : (tensor<?x?xf64>) -> tensor<?x?xf64>
    "tir.yield"(%t) : (tensor<?x?xf64>) -> ()
  }, {
  ^bb0(%x2: tensor<?x?xf64>, %w2: tensor<?x?xf64>):
    %e0 = "tir.constant"() {value = dense<0.0> : tensor<f64>} : () -> tensor<f64>
    %e1 = "tir.constant"() {value = dense<1.0> : tensor<f64>} : () -> tensor<f64>
    %p2 = "tir.gemm"(%e0, %e1, %x2, %w2, %e0) {inplace = unit, trans_a = false, trans_b = false} : (tensor<f64>, tensor<f64>, tensor<?x?xf64>, tensor<?x?xf64>, tensor<f64>) -> tensor<?x?xf64>
    %z = "tir.broadcast_like"(%e0, %p2) : (tensor<f64>, tensor<?x?xf64>) -> tensor<?x?xf64>
    "tir.yield"(%z) : (tensor<?x?xf64>) -> ()
  }) : (tensor<i1>, tensor<?x?xf64>, tensor<?x?xf64>) -> tensor<?x?xf64>
  %p = "tir.gemm"(%c0, %c1, %x, %w, %c0) {inplace = unit, trans_a = false, trans_b = false} : (tensor<f64>, tensor<f64>, tensor<?x?xf64>, tensor<?x?xf64>, tensor<f64>) -> tensor<?x?xf64>
  func.return %r, %p : tensor<?x?xf64>, tensor<?x?xf64>
}
