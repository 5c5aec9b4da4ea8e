// RUN: tensorir-opt %s -p canonicalize,dce | filecheck %s

// CHECK-LABEL: func.func @neutral
// CHECK-NOT: tir.mul
// CHECK-NOT: tir.add
// CHECK: func.return %x
func.func @neutral(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %one = "tir.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %zero = "tir.constant"() {value = dense<0.0> : tensor<4xf32>} : () -> tensor<4xf32>
  %0 = "tir.mul"(%one, %x) : (tensor<f32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %1 = "tir.add"(%0, %zero) : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  func.return %1 : tensor<?x4xf32>
}

// x + zeros((3, 4)) is not x when x is a vector: the add stays.
// CHECK-LABEL: func.func @broadcasting_zero_stays
// CHECK: "tir.add"
func.func @broadcasting_zero_stays(%x: tensor<4xf32>) -> tensor<3x4xf32> {
  %zero = "tir.constant"() {value = dense<0.0> : tensor<3x4xf32>} : () -> tensor<3x4xf32>
  %0 = "tir.add"(%x, %zero) : (tensor<4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
  func.return %0 : tensor<3x4xf32>
}

// x - x is nan for nan and inf: without fast_math it stays (canonicalize_fast_math.mlir drops it).
// CHECK-LABEL: func.func @sub_self
// CHECK: %[[S:.*]] = "tir.sub"(%x, %x)
// CHECK-NEXT: func.return %[[S]]
func.func @sub_self(%x: tensor<?x?xf64>) -> tensor<?x?xf64> {
  %0 = "tir.sub"(%x, %x) : (tensor<?x?xf64>, tensor<?x?xf64>) -> tensor<?x?xf64>
  func.return %0 : tensor<?x?xf64>
}

// CHECK-LABEL: func.func @double_negation_and_exp_log
// CHECK-NOT: tir.neg
// CHECK-NOT: tir.log
// CHECK: func.return %x, %x
func.func @double_negation_and_exp_log(%x: tensor<?xf64>) -> (tensor<?xf64>, tensor<?xf64>) {
  %0 = "tir.neg"(%x) : (tensor<?xf64>) -> tensor<?xf64>
  %1 = "tir.neg"(%0) : (tensor<?xf64>) -> tensor<?xf64>
  %2 = "tir.exp"(%x) : (tensor<?xf64>) -> tensor<?xf64>
  %3 = "tir.log"(%2) : (tensor<?xf64>) -> tensor<?xf64>
  func.return %1, %3 : tensor<?xf64>, tensor<?xf64>
}

// exp(log(x)) is not x for negative x: it stays, except on a value known >= 0.
// CHECK-LABEL: func.func @exp_log_only_where_valid
// CHECK: %[[L:.*]] = "tir.log"(%x)
// CHECK: "tir.exp"(%[[L]])
// CHECK: %[[S:.*]] = "tir.sqrt"(%x)
// CHECK-NOT: "tir.log"(%[[S]])
// CHECK: func.return {{.*}}, %[[S]]
func.func @exp_log_only_where_valid(%x: tensor<?xf64>) -> (tensor<?xf64>, tensor<?xf64>) {
  %0 = "tir.log"(%x) : (tensor<?xf64>) -> tensor<?xf64>
  %1 = "tir.exp"(%0) : (tensor<?xf64>) -> tensor<?xf64>
  %2 = "tir.sqrt"(%x) : (tensor<?xf64>) -> tensor<?xf64>
  %3 = "tir.log"(%2) : (tensor<?xf64>) -> tensor<?xf64>
  %4 = "tir.exp"(%3) : (tensor<?xf64>) -> tensor<?xf64>
  func.return %1, %4 : tensor<?xf64>, tensor<?xf64>
}

// CHECK-LABEL: func.func @dimshuffles
// CHECK: %[[D:.*]] = "tir.dimshuffle"(%x) {pattern = array<i64: -1, 1, 0>}
// CHECK-NEXT: func.return %x, %[[D]]
func.func @dimshuffles(%x: tensor<?x3xf32>) -> (tensor<?x3xf32>, tensor<1x3x?xf32>) {
  %0 = "tir.dimshuffle"(%x) {pattern = array<i64: 1, 0>} : (tensor<?x3xf32>) -> tensor<3x?xf32>
  %1 = "tir.dimshuffle"(%0) {pattern = array<i64: 1, 0>} : (tensor<3x?xf32>) -> tensor<?x3xf32>
  %2 = "tir.dimshuffle"(%0) {pattern = array<i64: -1, 0, 1>} : (tensor<3x?xf32>) -> tensor<1x3x?xf32>
  func.return %1, %2 : tensor<?x3xf32>, tensor<1x3x?xf32>
}

// CHECK-LABEL: func.func @reshapes_and_casts
// CHECK-NEXT: %[[R:.*]] = "tir.reshape"(%x) {newshape = array<i64: 6>}
// CHECK-NEXT: func.return %[[R]], %x
func.func @reshapes_and_casts(%x: tensor<2x3xf32>) -> (tensor<6xf32>, tensor<2x3xf32>) {
  %0 = "tir.reshape"(%x) {newshape = array<i64: 3, 2>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
  %1 = "tir.reshape"(%0) {newshape = array<i64: 6>} : (tensor<3x2xf32>) -> tensor<6xf32>
  %2 = "tir.cast"(%x) {dtype = "float64"} : (tensor<2x3xf32>) -> tensor<2x3xf64>
  %3 = "tir.cast"(%2) {dtype = "float32"} : (tensor<2x3xf64>) -> tensor<2x3xf32>
  %4 = "tir.reshape"(%3) {newshape = array<i64: 2, 3>} : (tensor<2x3xf32>) -> tensor<2x3xf32>
  func.return %1, %4 : tensor<6xf32>, tensor<2x3xf32>
}

// CHECK-LABEL: func.func @static_shapes
// CHECK: "tir.constant"() {value = dense<5> : tensor<i64>}
// CHECK-NOT: tir.shape_i
// CHECK: func.return
func.func @static_shapes(%x: tensor<?x5xf32>) -> tensor<i64> {
  %0 = "tir.shape_i"(%x) {i = 1 : i64} : (tensor<?x5xf32>) -> tensor<i64>
  func.return %0 : tensor<i64>
}

// sum_to decided from static shapes becomes a plain sum (+ dimshuffle), or nothing.
// CHECK-LABEL: func.func @static_sum_to
// CHECK: %[[S:.*]] = "tir.sum"(%g) {axis = array<i64: 0, 2>, keepdims = false}
// CHECK-NEXT: %[[D:.*]] = "tir.dimshuffle"(%[[S]]) {pattern = array<i64: 0, -1>}
// CHECK-NEXT: func.return %[[D]], %g
func.func @static_sum_to(%g: tensor<?x4x3xf32>, %b: tensor<4x1xf32>, %c: tensor<?x4x3xf32>) -> (tensor<4x1xf32>, tensor<?x4x3xf32>) {
  %0 = "tir.sum_to"(%g, %b) : (tensor<?x4x3xf32>, tensor<4x1xf32>) -> tensor<4x1xf32>
  %1 = "tir.sum_to"(%g, %g) : (tensor<?x4x3xf32>, tensor<?x4x3xf32>) -> tensor<?x4x3xf32>
  func.return %0, %1 : tensor<4x1xf32>, tensor<?x4x3xf32>
}

// CHECK-LABEL: func.func @sum_of_broadcast
// CHECK-NOT: tir.broadcast_like
// CHECK: "tir.mul"
func.func @sum_of_broadcast(%s: tensor<f32>, %x: tensor<?x7xf32>) -> tensor<f32> {
  %0 = "tir.broadcast_like"(%s, %x) : (tensor<f32>, tensor<?x7xf32>) -> tensor<?x7xf32>
  %1 = "tir.sum"(%0) {axis = unit, keepdims = false} : (tensor<?x7xf32>) -> tensor<f32>
  func.return %1 : tensor<f32>
}

// CHECK-LABEL: func.func @folding
// CHECK-NEXT: "tir.constant"() {value = dense<[2.0, 4.0, 6.0]> : tensor<3xf64>}
// CHECK-NEXT: func.return
func.func @folding() -> tensor<3xf64> {
  %0 = "tir.constant"() {value = dense<[1.0, 2.0, 3.0]> : tensor<3xf64>} : () -> tensor<3xf64>
  %1 = "tir.constant"() {value = dense<2.0> : tensor<f64>} : () -> tensor<f64>
  %2 = "tir.mul"(%0, %1) : (tensor<3xf64>, tensor<f64>) -> tensor<3xf64>
  func.return %2 : tensor<3xf64>
}

// The gradient of (a + p) + b: the operands' sums read g directly, so a + p is dead (and would
// fuse with the outer add), while a sum to a shape not among the operands stays nested.
// CHECK-LABEL: func.func @nested_sum_to
// CHECK-NOT: "tir.add"
// CHECK: %[[A:.*]] = "tir.sum_to"(%g, %a)
// CHECK-NEXT: %[[P:.*]] = "tir.sum_to"(%g, %p)
// CHECK-NEXT: %[[Y:.*]] = "tir.sum_to"(%g, %y)
// CHECK-NEXT: %[[Q:.*]] = "tir.sum_to"(%[[Y]], %q)
// CHECK-NEXT: func.return %[[A]], %[[P]], %[[Q]]
func.func @nested_sum_to(%g: tensor<?x?xf32>, %a: tensor<?x?xf32>, %p: tensor<?xf32>, %y: tensor<?x?xf32>, %q: tensor<?xf32>) -> (tensor<?x?xf32>, tensor<?xf32>, tensor<?xf32>) {
  %0 = "tir.add"(%a, %p) : (tensor<?x?xf32>, tensor<?xf32>) -> tensor<?x?xf32>
  %1 = "tir.sum_to"(%g, %0) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %2 = "tir.sum_to"(%1, %a) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %3 = "tir.sum_to"(%1, %p) : (tensor<?x?xf32>, tensor<?xf32>) -> tensor<?xf32>
  %4 = "tir.sum_to"(%g, %y) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %5 = "tir.sum_to"(%4, %q) : (tensor<?x?xf32>, tensor<?xf32>) -> tensor<?xf32>
  func.return %2, %3, %5 : tensor<?x?xf32>, tensor<?xf32>, tensor<?xf32>
}
