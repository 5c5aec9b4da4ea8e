// RUN: tensorir-opt %s -p scan-hoist | filecheck %s

// exp(W) is the same at every step: it runs once, before the loop, and comes in as a
// non-sequence. The transpose only the loop reads stays inside (a free view BLAS reads in place).
// CHECK-LABEL: func.func @invariant
// CHECK: %[[E:.*]] = "tir.exp"(%w)
// CHECK: "tir.scan"(%n, %x, %h0, %w, %[[E]])
// CHECK-NEXT: ^bb0(%xt: tensor<?xf64>, %h: tensor<?xf64>, %wb: tensor<?x?xf64>, %[[EB:.*]]: tensor<?x?xf64>):
// CHECK-NOT: "tir.exp"
// CHECK: %[[T:.*]] = "tir.dimshuffle"(%wb) {pattern = array<i64: 1, 0>}
// CHECK: "tir.dot"(%h, %[[T]])
// CHECK: "tir.dot"(%xt, %[[EB]])
func.func @invariant(%x: tensor<?x?xf64>, %h0: tensor<1x?xf64>, %w: tensor<?x?xf64>) -> tensor<?x?xf64> {
  %n = "tir.constant"() {value = dense<-1> : tensor<i64>} : () -> tensor<i64>
  %0 = "tir.scan"(%n, %x, %h0, %w) ({
  ^bb0(%xt: tensor<?xf64>, %h: tensor<?xf64>, %wb: tensor<?x?xf64>):
    %1 = "tir.dimshuffle"(%wb) {pattern = array<i64: 1, 0>} : (tensor<?x?xf64>) -> tensor<?x?xf64>
    %2 = "tir.dot"(%h, %1) : (tensor<?xf64>, tensor<?x?xf64>) -> tensor<?xf64>
    %3 = "tir.exp"(%wb) : (tensor<?x?xf64>) -> tensor<?x?xf64>
    %4 = "tir.dot"(%xt, %3) : (tensor<?xf64>, tensor<?x?xf64>) -> tensor<?xf64>
    %5 = "tir.add"(%2, %4) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
    "tir.yield"(%5) : (tensor<?xf64>) -> ()
  }) {keep = array<i64: 0>, name = "", reverse = false, seq_taps = [array<i64: 0>], state_taps = [array<i64: -1>], truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<?x?xf64>, tensor<1x?xf64>, tensor<?x?xf64>) -> tensor<?x?xf64>
  func.return %0 : tensor<?x?xf64>
}
