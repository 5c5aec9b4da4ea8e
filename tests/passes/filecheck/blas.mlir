// RUN: tensorir-opt %s -p blas,canonicalize,dce | filecheck %s

// alpha*dot(a, b) + beta*c -> gemm(c, alpha, a, b, beta)
// CHECK-LABEL: func.func @gemm
// CHECK: %[[G:.*]] = "tir.gemm"(%c, %alpha, %a, %b, %beta) {inplace = unit, trans_a = false, trans_b = false}
// CHECK-NEXT: func.return %[[G]]
func.func @gemm(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>, %c: tensor<?x?xf32>, %alpha: tensor<f32>, %beta: tensor<f32>) -> tensor<?x?xf32> {
  %0 = "tir.dot"(%a, %b) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %1 = "tir.mul"(%alpha, %0) : (tensor<f32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %2 = "tir.mul"(%c, %beta) : (tensor<?x?xf32>, tensor<f32>) -> tensor<?x?xf32>
  %3 = "tir.add"(%1, %2) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  func.return %3 : tensor<?x?xf32>
}

// The SGD update W - lr*dot(x.T, dy) is one gemm reading x transposed.
// CHECK-LABEL: func.func @sgd
// CHECK: %[[NLR:.*]] = "tir.neg"(%lr)
// CHECK: "tir.gemm"(%W, %[[NLR]], %x, %dy, %{{.*}}) {inplace = unit, trans_a = true, trans_b = false}
func.func @sgd(%W: tensor<?x?xf64>, %x: tensor<?x?xf64>, %dy: tensor<?x?xf64>, %lr: tensor<f64>) -> tensor<?x?xf64> {
  %0 = "tir.dimshuffle"(%x) {pattern = array<i64: 1, 0>} : (tensor<?x?xf64>) -> tensor<?x?xf64>
  %1 = "tir.dot"(%0, %dy) : (tensor<?x?xf64>, tensor<?x?xf64>) -> tensor<?x?xf64>
  %2 = "tir.mul"(%lr, %1) : (tensor<f64>, tensor<?x?xf64>) -> tensor<?x?xf64>
  %3 = "tir.sub"(%W, %2) : (tensor<?x?xf64>, tensor<?x?xf64>) -> tensor<?x?xf64>
  func.return %3 : tensor<?x?xf64>
}

// A + outer(x, y) -> ger(A, 1, x, y)
// CHECK-LABEL: func.func @ger
// CHECK: %[[R:.*]] = "tir.ger"(%A, %{{.*}}, %x, %y)
// CHECK-NEXT: func.return %[[R]]
func.func @ger(%A: tensor<?x?xf64>, %x: tensor<?xf64>, %y: tensor<?xf64>) -> tensor<?x?xf64> {
  %0 = "tir.dimshuffle"(%x) {pattern = array<i64: 0, -1>} : (tensor<?xf64>) -> tensor<?x1xf64>
  %1 = "tir.dimshuffle"(%y) {pattern = array<i64: -1, 0>} : (tensor<?xf64>) -> tensor<1x?xf64>
  %2 = "tir.dot"(%0, %1) : (tensor<?x1xf64>, tensor<1x?xf64>) -> tensor<?x?xf64>
  %3 = "tir.add"(%A, %2) : (tensor<?x?xf64>, tensor<?x?xf64>) -> tensor<?x?xf64>
  func.return %3 : tensor<?x?xf64>
}

// A tied weight's gradient x.T @ dh + (h.T @ dz).T: the transposed product swaps its operands
// (dz.T @ h), the sum accumulates the other product into it, and the two products over rows
// become one over the joined rows: [dz; x].T @ [h; dh], no transpose.
// CHECK-LABEL: func.func @tied
// CHECK: %[[A:.*]] = "tir.join"(%dz, %x) {axis = 0 : i64}
// CHECK: %[[B:.*]] = "tir.join"(%h, %dh) {axis = 0 : i64}
// CHECK: %[[G:.*]] = "tir.gemm"(%{{.*}}, %{{.*}}, %[[A]], %[[B]], %{{.*}}) {inplace = unit, trans_a = true, trans_b = false}
// CHECK-NOT: "tir.dimshuffle"
// CHECK-NOT: "tir.gemm"
// CHECK: func.return %[[G]]
func.func @tied(%x: tensor<?x?xf32>, %dh: tensor<?x?xf32>, %h: tensor<?x?xf32>, %dz: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %0 = "tir.dimshuffle"(%x) {pattern = array<i64: 1, 0>} : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %1 = "tir.dot"(%0, %dh) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %2 = "tir.dimshuffle"(%h) {pattern = array<i64: 1, 0>} : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %3 = "tir.dot"(%2, %dz) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %4 = "tir.dimshuffle"(%3) {pattern = array<i64: 1, 0>} : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %5 = "tir.add"(%1, %4) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  func.return %5 : tensor<?x?xf32>
}

// The tied weight's update W - lr * (x.T @ dh + (h.T @ dz).T): the subtraction goes to the start
// of the chain, so both products accumulate into W, then join into one: one pass over W.
// CHECK-LABEL: func.func @tied_update
// CHECK: %[[A:.*]] = "tir.join"(%dz, %x) {axis = 0 : i64}
// CHECK: %[[B:.*]] = "tir.join"(%h, %dh) {axis = 0 : i64}
// CHECK: %[[G:.*]] = "tir.gemm"(%W, %{{.*}}, %[[A]], %[[B]], %{{.*}}) {inplace = unit, trans_a = true, trans_b = false}
// CHECK-NOT: "tir.sub"
// CHECK-NOT: "tir.gemm"
// CHECK: func.return %[[G]]
func.func @tied_update(%W: tensor<?x?xf32>, %x: tensor<?x?xf32>, %dh: tensor<?x?xf32>, %h: tensor<?x?xf32>, %dz: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %lr = "tir.constant"() {value = dense<0.1> : tensor<f32>} : () -> tensor<f32>
  %0 = "tir.dimshuffle"(%x) {pattern = array<i64: 1, 0>} : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %1 = "tir.dot"(%0, %dh) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %2 = "tir.dimshuffle"(%h) {pattern = array<i64: 1, 0>} : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %3 = "tir.dot"(%2, %dz) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %4 = "tir.dimshuffle"(%3) {pattern = array<i64: 1, 0>} : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %5 = "tir.add"(%1, %4) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %6 = "tir.mul"(%lr, %5) : (tensor<f32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %7 = "tir.sub"(%W, %6) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  func.return %7 : tensor<?x?xf32>
}
