// RUN: tensorir-opt %s -p specialize,cse,canonicalize,dce | filecheck %s

// CHECK-LABEL: func.func @powers
// CHECK: %[[SQ:.*]] = "tir.mul"(%x, %x)
// CHECK: %[[P4:.*]] = "tir.mul"(%[[SQ]], %[[SQ]])
// CHECK: %[[P5:.*]] = "tir.mul"(%x, %[[P4]])
// CHECK: %[[R:.*]] = "tir.sqrt"(%x)
// CHECK: %[[RR:.*]] = "tir.reciprocal"(%[[R]])
// CHECK: %[[INV:.*]] = "tir.reciprocal"(%x)
// CHECK: func.return %[[SQ]], %[[P5]], %[[R]], %[[RR]], %[[INV]]
func.func @powers(%x: tensor<?xf64>) -> (tensor<?xf64>, tensor<?xf64>, tensor<?xf64>, tensor<?xf64>, tensor<?xf64>) {
  %two = "tir.constant"() {value = dense<2.0> : tensor<f64>} : () -> tensor<f64>
  %five = "tir.constant"() {value = dense<5.0> : tensor<f64>} : () -> tensor<f64>
  %half = "tir.constant"() {value = dense<0.5> : tensor<f64>} : () -> tensor<f64>
  %mhalf = "tir.constant"() {value = dense<-0.5> : tensor<f64>} : () -> tensor<f64>
  %one = "tir.constant"() {value = dense<1.0> : tensor<f64>} : () -> tensor<f64>
  %0 = "tir.pow"(%x, %two) : (tensor<?xf64>, tensor<f64>) -> tensor<?xf64>
  %1 = "tir.pow"(%x, %five) : (tensor<?xf64>, tensor<f64>) -> tensor<?xf64>
  %2 = "tir.pow"(%x, %half) : (tensor<?xf64>, tensor<f64>) -> tensor<?xf64>
  %3 = "tir.pow"(%x, %mhalf) : (tensor<?xf64>, tensor<f64>) -> tensor<?xf64>
  %4 = "tir.true_div"(%one, %x) : (tensor<f64>, tensor<?xf64>) -> tensor<?xf64>
  func.return %0, %1, %2, %3, %4 : tensor<?xf64>, tensor<?xf64>, tensor<?xf64>, tensor<?xf64>, tensor<?xf64>
}

// CHECK-LABEL: func.func @dot_vector
// CHECK: "tir.gemv"({{.*}}, %a, %v, {{.*}}) {inplace = unit, trans = false}
// CHECK: "tir.gemv"({{.*}}, %a, %w, {{.*}}) {inplace = unit, trans = true}
func.func @dot_vector(%a: tensor<?x3xf32>, %v: tensor<3xf32>, %w: tensor<?xf32>) -> (tensor<?xf32>, tensor<3xf32>) {
  %0 = "tir.dot"(%a, %v) : (tensor<?x3xf32>, tensor<3xf32>) -> tensor<?xf32>
  %1 = "tir.dot"(%w, %a) : (tensor<?xf32>, tensor<?x3xf32>) -> tensor<3xf32>
  func.return %0, %1 : tensor<?xf32>, tensor<3xf32>
}
