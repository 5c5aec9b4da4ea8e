// RUN: tensorir-opt %s -p scan-reuse-forward | filecheck %s

// The backward loop (as the vjp builds it: it reads the forward state buffer with the forward
// taps and runs len(buffer) - 1 steps) recomputes dot(h_{t-1}, U) of the forward step. The
// forward loop yields it per step instead and the backward loop reads it as a sequence.
// CHECK-LABEL: func.func @rnn
// CHECK: %[[F:.*]]:2 = "tir.scan"(%n, %h0, %u)
// CHECK: %[[D:.*]] = "tir.dot"(%h, %ub)
// CHECK: "tir.yield"(%{{.*}}, %[[D]])
// CHECK: keep = array<i64: 0, 0>
// CHECK: "tir.scan"(%steps, %[[F]]#0, %g, %[[F]]#1, %c0, %u)
// CHECK-NEXT: ^bb0(%hp: tensor<?xf64>, %gt: tensor<?xf64>, %[[DT:[a-z0-9]+]]: tensor<?xf64>,
// CHECK-NOT: "tir.dot"(%hp
// CHECK: "tir.tanh"(%[[DT]])
func.func @rnn(%h0: tensor<1x?xf64>, %u: tensor<?x?xf64>, %n: tensor<i64>, %g: tensor<?x?xf64>, %c0: tensor<1x?xf64>) -> tensor<1x?xf64> {
  %0 = "tir.scan"(%n, %h0, %u) ({
  ^bb0(%h: tensor<?xf64>, %ub: tensor<?x?xf64>):
    %1 = "tir.dot"(%h, %ub) : (tensor<?xf64>, tensor<?x?xf64>) -> tensor<?xf64>
    %2 = "tir.tanh"(%1) : (tensor<?xf64>) -> tensor<?xf64>
    "tir.yield"(%2) : (tensor<?xf64>) -> ()
  }) {keep = array<i64: 0>, name = "", reverse = false, seq_taps = array<i64>, state_taps = [array<i64: -1>], truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<1x?xf64>, tensor<?x?xf64>) -> tensor<?x?xf64>
  %one = "tir.constant"() {value = dense<1> : tensor<i64>} : () -> tensor<i64>
  %len = "tir.shape_i"(%0) {i = 0 : i64} : (tensor<?x?xf64>) -> tensor<i64>
  %steps = "tir.sub"(%len, %one) : (tensor<i64>, tensor<i64>) -> tensor<i64>
  %3 = "tir.scan"(%steps, %0, %g, %c0, %u) ({
  ^bb0(%hp: tensor<?xf64>, %gt: tensor<?xf64>, %carry: tensor<?xf64>, %ub2: tensor<?x?xf64>):
    %4 = "tir.dot"(%hp, %ub2) : (tensor<?xf64>, tensor<?x?xf64>) -> tensor<?xf64>
    %5 = "tir.tanh"(%4) : (tensor<?xf64>) -> tensor<?xf64>
    %6 = "tir.add"(%carry, %gt) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
    %7 = "tir.mul"(%5, %5) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
    %8 = "tir.mul"(%6, %7) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
    %9 = "tir.sub"(%6, %8) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
    %10 = "tir.dimshuffle"(%ub2) {pattern = array<i64: 1, 0>} : (tensor<?x?xf64>) -> tensor<?x?xf64>
    %11 = "tir.dot"(%9, %10) : (tensor<?xf64>, tensor<?x?xf64>) -> tensor<?xf64>
    "tir.yield"(%11) : (tensor<?xf64>) -> ()
  }) {keep = array<i64: 1>, name = "grad", reverse = true, seq_taps = [array<i64: -1>, array<i64: 1>], state_taps = [array<i64: -1>], truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<?x?xf64>, tensor<?x?xf64>, tensor<1x?xf64>, tensor<?x?xf64>) -> tensor<1x?xf64>
  func.return %3 : tensor<1x?xf64>
}
