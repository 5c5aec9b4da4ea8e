// RUN: tensorir-opt %s -p fuse,dce | filecheck %s

// tanh(x*w + h) * sigmoid(a + b): one fused op, broadcasting operands, each op once.
// CHECK-LABEL: func.func @elementwise
// CHECK: %[[F:.*]] = "tir.fused"(%x, %w, %h, %a, %b) ({
// CHECK-NEXT: ^bb0(%{{.*}}: tensor<f32>, %{{.*}}: tensor<f32>, %{{.*}}: tensor<f32>, %{{.*}}: tensor<f32>, %{{.*}}: tensor<f32>):
// CHECK-NEXT: "tir.mul"
// CHECK-NEXT: "tir.add"
// CHECK-NEXT: "tir.tanh"
// CHECK-NEXT: "tir.add"
// CHECK-NEXT: "tir.sigmoid"
// CHECK-NEXT: "tir.mul"
// CHECK-NEXT: "tir.yield"
// CHECK-NEXT: }) {axis = unit, inplace = unit, keepdims = false, reduce = unit} : (tensor<?x4xf32>, tensor<4xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xf32>
// CHECK-NEXT: func.return %[[F]]
func.func @elementwise(%x: tensor<?x4xf32>, %w: tensor<4xf32>, %h: tensor<?x4xf32>, %a: tensor<?x4xf32>, %b: tensor<f32>) -> tensor<?x4xf32> {
  %0 = "tir.mul"(%x, %w) : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %1 = "tir.add"(%0, %h) : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %2 = "tir.tanh"(%1) : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %3 = "tir.add"(%a, %b) : (tensor<?x4xf32>, tensor<f32>) -> tensor<?x4xf32>
  %4 = "tir.sigmoid"(%3) : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %5 = "tir.mul"(%2, %4) : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  func.return %5 : tensor<?x4xf32>
}

// A reduction ends a group; scalar constants go into the body; a value used outside stays out.
// CHECK-LABEL: func.func @reduction
// CHECK: %[[E:.*]] = "tir.exp"(%x)
// CHECK: "tir.fused"(%[[E]], %y) ({
// CHECK: "tir.constant"() {value = dense<2.0> : tensor<f64>}
// CHECK: reduce = "tir.sum"
// CHECK: func.return
func.func @reduction(%x: tensor<?x?xf64>, %y: tensor<?x?xf64>) -> (tensor<?xf64>, tensor<?x?xf64>) {
  %two = "tir.constant"() {value = dense<2.0> : tensor<f64>} : () -> tensor<f64>
  %0 = "tir.exp"(%x) : (tensor<?x?xf64>) -> tensor<?x?xf64>
  %1 = "tir.mul"(%0, %y) : (tensor<?x?xf64>, tensor<?x?xf64>) -> tensor<?x?xf64>
  %2 = "tir.mul"(%1, %two) : (tensor<?x?xf64>, tensor<f64>) -> tensor<?x?xf64>
  %3 = "tir.sum"(%2) {axis = array<i64: 1>, keepdims = false} : (tensor<?x?xf64>) -> tensor<?xf64>
  func.return %3, %0 : tensor<?xf64>, tensor<?x?xf64>
}

// relu as tensorir writes it, switch(x < 0, 0, 0.5x + 0.5|x|), with a gradient's read of the
// formula's shape: the formula is of x's shape and so is the switch (both shape chains reach x),
// so the formula joins the switch's group and the shape read moves to the fused result.
// CHECK-LABEL: func.func @relu_shape_read
// CHECK: %[[M:.*]] = "tir.lt"(%x
// CHECK: %[[Y:.*]] = "tir.fused"(%x, %[[M]])
// CHECK: "tir.abs"
// CHECK: "tir.switch"
// CHECK: "tir.sum_to"(%g, %[[Y]])
func.func @relu_shape_read(%x: tensor<?x?xf32>, %g: tensor<?x?xf32>) -> (tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xi1>) {
  %0 = "tir.constant"() {value = dense<0.0> : tensor<f32>} : () -> tensor<f32>
  %h = "tir.constant"() {value = dense<0.5> : tensor<f32>} : () -> tensor<f32>
  %m = "tir.lt"(%x, %0) : (tensor<?x?xf32>, tensor<f32>) -> tensor<?x?xi1>
  %a = "tir.mul"(%x, %h) : (tensor<?x?xf32>, tensor<f32>) -> tensor<?x?xf32>
  %b = "tir.abs"(%x) : (tensor<?x?xf32>) -> tensor<?x?xf32>
  %c = "tir.mul"(%b, %h) : (tensor<?x?xf32>, tensor<f32>) -> tensor<?x?xf32>
  %f = "tir.add"(%a, %c) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %y = "tir.switch"(%m, %0, %f) : (tensor<?x?xi1>, tensor<f32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  %s = "tir.sum_to"(%g, %f) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  func.return %y, %s, %m : tensor<?x?xf32>, tensor<?x?xf32>, tensor<?x?xi1>
}
