// RUN: tensorir-opt %s -p scan-push-seq,cse | filecheck %s

// x_t W of every step is one product of the rows reshaped to (T*b, k), read back as a sequence.
// CHECK-LABEL: func.func @input_projection
// CHECK: %[[FLAT:.*]] = "tir.reshape"(%x, %{{.*}}) {newshape = array<i64: -1, -2>}
// CHECK: %[[P:.*]] = "tir.dot"(%[[FLAT]], %w)
// CHECK: %[[ROWS:.*]] = "tir.reshape"(%[[P]], %{{.*}}) {newshape = array<i64: -2, -2, -2>}
// CHECK: "tir.scan"(%n, %x, %[[ROWS]], %h0, %w)
// CHECK-NOT: "tir.dot"
// CHECK: "tir.tanh"
// CHECK: seq_taps = [array<i64: 0>, array<i64: 0>]
func.func @input_projection(%x: tensor<?x?x?xf32>, %h0: tensor<1x?x?xf32>, %w: tensor<?x?xf32>) -> tensor<?x?x?xf32> {
  %n = "tir.constant"() {value = dense<-1> : tensor<i64>} : () -> tensor<i64>
  %0 = "tir.scan"(%n, %x, %h0, %w) ({
  ^bb0(%xt: tensor<?x?xf32>, %h: tensor<?x?xf32>, %wb: tensor<?x?xf32>):
    %1 = "tir.dot"(%xt, %wb) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
    %2 = "tir.add"(%1, %h) : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
    %3 = "tir.tanh"(%2) : (tensor<?x?xf32>) -> tensor<?x?xf32>
    "tir.yield"(%3) : (tensor<?x?xf32>) -> ()
  }) {keep = array<i64: 0>, name = "", reverse = false, seq_taps = [array<i64: 0>], state_taps = [array<i64: -1>], truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<?x?x?xf32>, tensor<1x?x?xf32>, tensor<?x?xf32>) -> tensor<?x?x?xf32>
  func.return %0 : tensor<?x?x?xf32>
}

// Taps -1 and +1 read rows t and t+2: both are cut to their common rows before they meet.
// CHECK-LABEL: func.func @taps
// CHECK: %[[E:.*]] = "tir.exp"(%x)
// CHECK: %[[M:.*]] = "tir.minimum"
// CHECK: %[[A:.*]] = "tir.slice_leading"(%[[E]], %{{.*}}, %[[M]])
// CHECK: %[[B:.*]] = "tir.slice_leading"(%x, %{{.*}}, %{{.*}})
// CHECK: %[[P:.*]] = "tir.mul"(%[[A]], %[[B]])
// CHECK: "tir.scan"(%n, %x, %[[P]])
// CHECK-NEXT: ^bb0(%a: tensor<f64>, %b: tensor<f64>, %[[ROW:.*]]: tensor<f64>):
// CHECK-NEXT: "tir.yield"(%[[ROW]])
func.func @taps(%x: tensor<?xf64>) -> tensor<?xf64> {
  %n = "tir.constant"() {value = dense<-1> : tensor<i64>} : () -> tensor<i64>
  %0 = "tir.scan"(%n, %x) ({
  ^bb0(%a: tensor<f64>, %b: tensor<f64>):
    %1 = "tir.exp"(%a) : (tensor<f64>) -> tensor<f64>
    %2 = "tir.mul"(%1, %b) : (tensor<f64>, tensor<f64>) -> tensor<f64>
    "tir.yield"(%2) : (tensor<f64>) -> ()
  }) {keep = array<i64: 0>, name = "", reverse = false, seq_taps = [array<i64: -1, 1>], state_taps = array<i64>, truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<?xf64>) -> tensor<?xf64>
  func.return %0 : tensor<?xf64>
}

// A loop that may stop early keeps its work.
// CHECK-LABEL: func.func @until
// CHECK: "tir.scan"
// CHECK: "tir.exp"
func.func @until(%x: tensor<?xf64>, %acc0: tensor<1xf64>) -> tensor<?xf64> {
  %n = "tir.constant"() {value = dense<-1> : tensor<i64>} : () -> tensor<i64>
  %0 = "tir.scan"(%n, %x, %acc0) ({
  ^bb0(%a: tensor<f64>, %acc: tensor<f64>):
    %1 = "tir.exp"(%a) : (tensor<f64>) -> tensor<f64>
    %2 = "tir.add"(%acc, %1) : (tensor<f64>, tensor<f64>) -> tensor<f64>
    %3 = "tir.gt"(%2, %a) : (tensor<f64>, tensor<f64>) -> tensor<i1>
    "tir.yield"(%2, %3) : (tensor<f64>, tensor<i1>) -> ()
  }) {keep = array<i64: 0>, name = "", reverse = false, seq_taps = [array<i64: 0>], state_taps = [array<i64: -1>], truncate_gradient = -1 : i64, until = true, with_index = false} : (tensor<i64>, tensor<?xf64>, tensor<1xf64>) -> tensor<?xf64>
  func.return %0 : tensor<?xf64>
}
