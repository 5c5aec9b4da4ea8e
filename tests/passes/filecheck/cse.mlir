// RUN: tensorir-opt %s -p cse,dce | filecheck %s

// CHECK-LABEL: func.func @merge
// CHECK: %[[C:.*]] = "tir.constant"() {value = dense<2.0> : tensor<f64>}
// CHECK-NEXT: %[[A:.*]] = "tir.add"(%x, %y)
// CHECK-NEXT: %[[M:.*]] = "tir.mul"(%[[A]], %[[C]])
// CHECK-NEXT: %[[S:.*]] = "tir.sum"(%[[M]]) {axis = array<i64: 0>, keepdims = false}
// CHECK-NEXT: %[[T:.*]] = "tir.sum"(%[[M]]) {axis = array<i64: 0>, keepdims = true}
// CHECK-NEXT: func.return %[[M]], %[[M]], %[[S]], %[[T]]
func.func @merge(%x: tensor<?xf64>, %y: tensor<?xf64>) -> (tensor<?xf64>, tensor<?xf64>, tensor<f64>, tensor<1xf64>) {
  %c1 = "tir.constant"() {value = dense<2.0> : tensor<f64>} : () -> tensor<f64>
  %c2 = "tir.constant"() {value = dense<2.0> : tensor<f64>} : () -> tensor<f64>
  %0 = "tir.add"(%x, %y) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
  %1 = "tir.add"(%x, %y) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
  %2 = "tir.mul"(%0, %c1) : (tensor<?xf64>, tensor<f64>) -> tensor<?xf64>
  %3 = "tir.mul"(%1, %c2) : (tensor<?xf64>, tensor<f64>) -> tensor<?xf64>
  %4 = "tir.sum"(%2) {axis = array<i64: 0>, keepdims = false} : (tensor<?xf64>) -> tensor<f64>
  %5 = "tir.sum"(%3) {axis = array<i64: 0>, keepdims = true} : (tensor<?xf64>) -> tensor<1xf64>
  func.return %2, %3, %4, %5 : tensor<?xf64>, tensor<?xf64>, tensor<f64>, tensor<1xf64>
}

// -0.0 and 0.0 are different constants.
// CHECK-LABEL: func.func @signed_zeros
// CHECK: dense<-0.0>
// CHECK: dense<0.0>
func.func @signed_zeros() -> (tensor<f64>, tensor<f64>) {
  %0 = "tir.constant"() {value = dense<-0.0> : tensor<f64>} : () -> tensor<f64>
  %1 = "tir.constant"() {value = dense<0.0> : tensor<f64>} : () -> tensor<f64>
  func.return %0, %1 : tensor<f64>, tensor<f64>
}
