// RUN: tensorir-opt %s -p scan-push-acc | filecheck %s

// A weight gradient of back-propagation through time: acc += x_t^T g_t, only its last value used.
// The loop yields g_t per step; after it, one product of the stacked rows: acc0 + X^T G.
// The bias-like sum acc2 += sum(g_t, 0) becomes a per-step output summed after the loop.
// CHECK-LABEL: func.func @weight_gradient
// CHECK: %[[L:.*]]:3 = "tir.scan"(%n, %x, %c0, %g0)
// CHECK: "tir.yield"(%{{.*}}, %[[G:.*]], %{{.*}})
// CHECK: keep = array<i64: 0, 0, 0>
// CHECK: %[[STEPS:.*]] = "tir.shape_i"(%[[L]]#1) {i = 0 : i64}
// CHECK: %[[X:.*]] = "tir.slice_leading"(%x, %{{.*}}, %[[STEPS]])
// CHECK: %[[XF:.*]] = "tir.reshape"(%[[X]]
// CHECK: %[[GF:.*]] = "tir.reshape"(%[[L]]#1
// CHECK: %[[XT:.*]] = "tir.dimshuffle"(%[[XF]]) {pattern = array<i64: 1, 0>}
// CHECK: %[[P:.*]] = "tir.dot"(%[[XT]], %[[GF]])
// CHECK: "tir.add"(%{{.*}}, %[[P]])
// CHECK: "tir.sum"(%[[L]]#2) {axis = array<i64: 0>
func.func @weight_gradient(%x: tensor<?x?x?xf64>, %c0: tensor<1x?x?xf64>, %a0: tensor<1x?x?xf64>, %b0: tensor<1x?xf64>, %g0: tensor<?x?xf64>) -> (tensor<?x?x?xf64>, tensor<1x?x?xf64>, tensor<1x?xf64>) {
  %n = "tir.constant"() {value = dense<-1> : tensor<i64>} : () -> tensor<i64>
  %0:3 = "tir.scan"(%n, %x, %c0, %a0, %b0, %g0) ({
  ^bb0(%xt: tensor<?x?xf64>, %c: tensor<?x?xf64>, %acc: tensor<?x?xf64>, %acc2: tensor<?xf64>, %w: tensor<?x?xf64>):
    %1 = "tir.dot"(%c, %w) : (tensor<?x?xf64>, tensor<?x?xf64>) -> tensor<?x?xf64>
    %2 = "tir.tanh"(%1) : (tensor<?x?xf64>) -> tensor<?x?xf64>
    %3 = "tir.dimshuffle"(%xt) {pattern = array<i64: 1, 0>} : (tensor<?x?xf64>) -> tensor<?x?xf64>
    %4 = "tir.dot"(%3, %2) : (tensor<?x?xf64>, tensor<?x?xf64>) -> tensor<?x?xf64>
    %5 = "tir.add"(%acc, %4) : (tensor<?x?xf64>, tensor<?x?xf64>) -> tensor<?x?xf64>
    %6 = "tir.sum"(%2) {axis = array<i64: 0>, keepdims = false} : (tensor<?x?xf64>) -> tensor<?xf64>
    %7 = "tir.add"(%6, %acc2) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
    "tir.yield"(%2, %5, %7) : (tensor<?x?xf64>, tensor<?x?xf64>, tensor<?xf64>) -> ()
  }) {keep = array<i64: 0, 1, 1>, name = "", reverse = true, seq_taps = [array<i64: 0>], state_taps = [array<i64: -1>, array<i64: -1>, array<i64: -1>], truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<?x?x?xf64>, tensor<1x?x?xf64>, tensor<1x?x?xf64>, tensor<1x?xf64>, tensor<?x?xf64>) -> (tensor<?x?x?xf64>, tensor<1x?x?xf64>, tensor<1x?xf64>)
  func.return %0#0, %0#1, %0#2 : tensor<?x?x?xf64>, tensor<1x?x?xf64>, tensor<1x?xf64>
}

// A sum whose running values are read stays in the loop.
// CHECK-LABEL: func.func @running_sum
// CHECK: "tir.scan"
// CHECK: "tir.add"
// CHECK: keep = array<i64: 0>
func.func @running_sum(%x: tensor<?xf64>, %a0: tensor<1xf64>) -> tensor<?xf64> {
  %n = "tir.constant"() {value = dense<-1> : tensor<i64>} : () -> tensor<i64>
  %0 = "tir.scan"(%n, %x, %a0) ({
  ^bb0(%xt: tensor<f64>, %acc: tensor<f64>):
    %1 = "tir.add"(%acc, %xt) : (tensor<f64>, tensor<f64>) -> tensor<f64>
    "tir.yield"(%1) : (tensor<f64>) -> ()
  }) {keep = array<i64: 0>, name = "", reverse = false, seq_taps = [array<i64: 0>], state_taps = [array<i64: -1>], truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<?xf64>, tensor<1xf64>) -> tensor<?xf64>
  func.return %0 : tensor<?xf64>
}
