// RUN: tensorir-opt %s -p stabilize,canonicalize,dce | filecheck %s

// CHECK-LABEL: func.func @log1p_expm1
// CHECK: "tir.log1p"(%x)
// CHECK: "tir.expm1"(%x)
// CHECK-NOT: "tir.log"(
func.func @log1p_expm1(%x: tensor<?xf64>) -> (tensor<?xf64>, tensor<?xf64>) {
  %one = "tir.constant"() {value = dense<1.0> : tensor<f64>} : () -> tensor<f64>
  %0 = "tir.add"(%one, %x) : (tensor<f64>, tensor<?xf64>) -> tensor<?xf64>
  %1 = "tir.log"(%0) : (tensor<?xf64>) -> tensor<?xf64>
  %2 = "tir.exp"(%x) : (tensor<?xf64>) -> tensor<?xf64>
  %3 = "tir.sub"(%2, %one) : (tensor<?xf64>, tensor<f64>) -> tensor<?xf64>
  func.return %1, %3 : tensor<?xf64>, tensor<?xf64>
}

// CHECK-LABEL: func.func @softplus
// CHECK: %[[S:.*]] = "tir.softplus"(%x)
// CHECK-NEXT: func.return %[[S]]
func.func @softplus(%x: tensor<?xf32>) -> tensor<?xf32> {
  %one = "tir.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
  %0 = "tir.exp"(%x) : (tensor<?xf32>) -> tensor<?xf32>
  %1 = "tir.add"(%0, %one) : (tensor<?xf32>, tensor<f32>) -> tensor<?xf32>
  %2 = "tir.log"(%1) : (tensor<?xf32>) -> tensor<?xf32>
  func.return %2 : tensor<?xf32>
}

// log(sigmoid(x)) -> -softplus(-x); log(1 - sigmoid(x)) -> -softplus(x)
// CHECK-LABEL: func.func @log_sigmoid
// CHECK-DAG: %[[N:.*]] = "tir.neg"(%x)
// CHECK-DAG: "tir.softplus"(%[[N]])
// CHECK-DAG: "tir.softplus"(%x)
// CHECK-NOT: tir.sigmoid
func.func @log_sigmoid(%x: tensor<?xf64>) -> (tensor<?xf64>, tensor<?xf64>) {
  %one = "tir.constant"() {value = dense<1.0> : tensor<f64>} : () -> tensor<f64>
  %s = "tir.sigmoid"(%x) : (tensor<?xf64>) -> tensor<?xf64>
  %0 = "tir.log"(%s) : (tensor<?xf64>) -> tensor<?xf64>
  %1 = "tir.sub"(%one, %s) : (tensor<f64>, tensor<?xf64>) -> tensor<?xf64>
  %2 = "tir.log"(%1) : (tensor<?xf64>) -> tensor<?xf64>
  func.return %0, %2 : tensor<?xf64>, tensor<?xf64>
}

// CHECK-LABEL: func.func @sigmoid
// CHECK: %[[S:.*]] = "tir.sigmoid"(%x)
// CHECK-NEXT: func.return %[[S]]
func.func @sigmoid(%x: tensor<?xf64>) -> tensor<?xf64> {
  %one = "tir.constant"() {value = dense<1.0> : tensor<f64>} : () -> tensor<f64>
  %0 = "tir.neg"(%x) : (tensor<?xf64>) -> tensor<?xf64>
  %1 = "tir.exp"(%0) : (tensor<?xf64>) -> tensor<?xf64>
  %2 = "tir.add"(%one, %1) : (tensor<f64>, tensor<?xf64>) -> tensor<?xf64>
  %3 = "tir.true_div"(%one, %2) : (tensor<f64>, tensor<?xf64>) -> tensor<?xf64>
  func.return %3 : tensor<?xf64>
}

// CHECK-LABEL: func.func @logsumexp
// CHECK: "tir.logsumexp"(%x) {axis = array<i64: 1>, keepdims = false}
// CHECK-NOT: tir.exp
func.func @logsumexp(%x: tensor<?x?xf64>) -> tensor<?xf64> {
  %0 = "tir.exp"(%x) : (tensor<?x?xf64>) -> tensor<?x?xf64>
  %1 = "tir.sum"(%0) {axis = array<i64: 1>, keepdims = false} : (tensor<?x?xf64>) -> tensor<?xf64>
  %2 = "tir.log"(%1) : (tensor<?xf64>) -> tensor<?xf64>
  func.return %2 : tensor<?xf64>
}

// A hand-written softmax is recognized, then log(softmax) becomes log_softmax.
// CHECK-LABEL: func.func @log_softmax
// CHECK: %[[L:.*]] = "tir.log_softmax"(%x) {axis = 1 : i64}
// CHECK-NEXT: func.return %[[L]]
func.func @log_softmax(%x: tensor<?x?xf64>) -> tensor<?x?xf64> {
  %0 = "tir.exp"(%x) : (tensor<?x?xf64>) -> tensor<?x?xf64>
  %1 = "tir.sum"(%0) {axis = array<i64: 1>, keepdims = false} : (tensor<?x?xf64>) -> tensor<?xf64>
  %2 = "tir.dimshuffle"(%1) {pattern = array<i64: 0, -1>} : (tensor<?xf64>) -> tensor<?x1xf64>
  %3 = "tir.true_div"(%0, %2) : (tensor<?x?xf64>, tensor<?x1xf64>) -> tensor<?x?xf64>
  %4 = "tir.log"(%3) : (tensor<?x?xf64>) -> tensor<?x?xf64>
  func.return %4 : tensor<?x?xf64>
}

// CHECK-LABEL: func.func @softmax_crossentropy
// CHECK: %[[C:.*]] = "tir.softmax_crossentropy"(%z, %y)
// CHECK-NEXT: func.return %[[C]]
func.func @softmax_crossentropy(%z: tensor<?x10xf32>, %y: tensor<?xi32>) -> tensor<?xf32> {
  %0 = "tir.softmax"(%z) {axis = -1 : i64} : (tensor<?x10xf32>) -> tensor<?x10xf32>
  %1 = "tir.crossentropy_categorical"(%0, %y) : (tensor<?x10xf32>, tensor<?xi32>) -> tensor<?xf32>
  func.return %1 : tensor<?xf32>
}

// CHECK-LABEL: func.func @binary_crossentropy
// CHECK: "tir.sigmoid_binary_crossentropy"(%x, %t)
// CHECK-NOT: tir.sigmoid"
func.func @binary_crossentropy(%x: tensor<?xf64>, %t: tensor<?xf64>) -> tensor<?xf64> {
  %one = "tir.constant"() {value = dense<1.0> : tensor<f64>} : () -> tensor<f64>
  %p = "tir.sigmoid"(%x) : (tensor<?xf64>) -> tensor<?xf64>
  %0 = "tir.log"(%p) : (tensor<?xf64>) -> tensor<?xf64>
  %1 = "tir.mul"(%t, %0) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
  %2 = "tir.sub"(%one, %t) : (tensor<f64>, tensor<?xf64>) -> tensor<?xf64>
  %3 = "tir.sub"(%one, %p) : (tensor<f64>, tensor<?xf64>) -> tensor<?xf64>
  %4 = "tir.log"(%3) : (tensor<?xf64>) -> tensor<?xf64>
  %5 = "tir.mul"(%2, %4) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
  %6 = "tir.add"(%1, %5) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
  %7 = "tir.neg"(%6) : (tensor<?xf64>) -> tensor<?xf64>
  func.return %7 : tensor<?xf64>
}
