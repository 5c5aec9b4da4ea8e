// RUN: tensorir-opt %s -p scan-prune | filecheck %s

// The plain output (a per-step product nobody reads) goes with its dot; state %b stays because
// the kept state %a reads it; the unused non-sequence %v and the duplicated %w go.
// CHECK-LABEL: func.func @unused
// CHECK: %[[L:.*]]:2 = "tir.scan"(%n, %x, %a0, %b0, %w)
// CHECK-NEXT: ^bb0(%xt: tensor<?xf64>, %a: tensor<?xf64>, %b: tensor<?xf64>, %w1: tensor<?x?xf64>):
// CHECK-NOT: "tir.dot"(%xt
// CHECK: "tir.dot"(%b, %w1)
// CHECK: keep = array<i64: 0, 0>, name = "", reverse = false, seq_taps = [array<i64: 0>], state_taps = [array<i64: -1>, array<i64: -1>]
// CHECK: func.return %[[L]]#0
func.func @unused(%x: tensor<?x?xf64>, %a0: tensor<1x?xf64>, %b0: tensor<1x?xf64>, %w: tensor<?x?xf64>, %v: tensor<?xf64>) -> tensor<?x?xf64> {
  %n = "tir.constant"() {value = dense<-1> : tensor<i64>} : () -> tensor<i64>
  %0:3 = "tir.scan"(%n, %x, %a0, %b0, %w, %v, %w) ({
  ^bb0(%xt: tensor<?xf64>, %a: tensor<?xf64>, %b: tensor<?xf64>, %w1: tensor<?x?xf64>, %vb: tensor<?xf64>, %w2: tensor<?x?xf64>):
    %1 = "tir.dot"(%b, %w1) : (tensor<?xf64>, tensor<?x?xf64>) -> tensor<?xf64>
    %2 = "tir.add"(%a, %1) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
    %3 = "tir.dot"(%xt, %w2) : (tensor<?xf64>, tensor<?x?xf64>) -> tensor<?xf64>
    %4 = "tir.tanh"(%xt) : (tensor<?xf64>) -> tensor<?xf64>
    "tir.yield"(%2, %4, %3) : (tensor<?xf64>, tensor<?xf64>, tensor<?xf64>) -> ()
  }) {keep = array<i64: 0, 0, 0>, name = "", reverse = false, seq_taps = [array<i64: 0>], state_taps = [array<i64: -1>, array<i64: -1>], truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<?x?xf64>, tensor<1x?xf64>, tensor<1x?xf64>, tensor<?x?xf64>, tensor<?xf64>, tensor<?x?xf64>) -> (tensor<?x?xf64>, tensor<?x?xf64>, tensor<?x?xf64>)
  func.return %0#0 : tensor<?x?xf64>
}
