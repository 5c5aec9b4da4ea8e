// RUN: tensorir-opt %s -p scan-merge,scan-prune,cse | filecheck %s

// Two loops over the same rows of %x, neither reading the other: one loop, one read of x_t,
// exp(x_t) computed once. The op the second loop's operands need moves before the first.
// CHECK-LABEL: func.func @independent
// CHECK: %[[W:.*]] = "tir.exp"(%w)
// CHECK: %[[L:.*]]:2 = "tir.scan"(%n, %x, %a0, %b0, %[[W]])
// CHECK-NEXT: ^bb0(%xt: tensor<f64>, %a: tensor<f64>, %b: tensor<f64>, %{{.*}}: tensor<f64>):
// CHECK: "tir.exp"(%xt)
// CHECK-NOT: "tir.exp"
// CHECK: "tir.yield"
// CHECK-NOT: "tir.scan"
// CHECK: func.return %[[L]]#0, %[[L]]#1
func.func @independent(%x: tensor<?xf64>, %a0: tensor<1xf64>, %b0: tensor<1xf64>, %w: tensor<f64>) -> (tensor<?xf64>, tensor<?xf64>) {
  %n = "tir.constant"() {value = dense<-1> : tensor<i64>} : () -> tensor<i64>
  %0 = "tir.scan"(%n, %x, %a0) ({
  ^bb0(%xt: tensor<f64>, %a: tensor<f64>):
    %1 = "tir.exp"(%xt) : (tensor<f64>) -> tensor<f64>
    %2 = "tir.add"(%a, %1) : (tensor<f64>, tensor<f64>) -> tensor<f64>
    "tir.yield"(%2) : (tensor<f64>) -> ()
  }) {keep = array<i64: 0>, name = "", reverse = false, seq_taps = [array<i64: 0>], state_taps = [array<i64: -1>], truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<?xf64>, tensor<1xf64>) -> tensor<?xf64>
  %ew = "tir.exp"(%w) : (tensor<f64>) -> tensor<f64>
  %3 = "tir.scan"(%n, %x, %b0, %ew) ({
  ^bb0(%xt2: tensor<f64>, %b: tensor<f64>, %wb: tensor<f64>):
    %4 = "tir.exp"(%xt2) : (tensor<f64>) -> tensor<f64>
    %5 = "tir.mul"(%4, %wb) : (tensor<f64>, tensor<f64>) -> tensor<f64>
    %6 = "tir.sub"(%5, %b) : (tensor<f64>, tensor<f64>) -> tensor<f64>
    "tir.yield"(%6) : (tensor<f64>) -> ()
  }) {keep = array<i64: 0>, name = "", reverse = false, seq_taps = [array<i64: 0>], state_taps = [array<i64: -1>], truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<?xf64>, tensor<1xf64>, tensor<f64>) -> tensor<?xf64>
  func.return %0, %3 : tensor<?xf64>, tensor<?xf64>
}

// The second loop reads the first one's result: no merge.
// CHECK-LABEL: func.func @dependent
// CHECK: "tir.scan"
// CHECK: "tir.scan"
func.func @dependent(%x: tensor<?xf64>, %a0: tensor<1xf64>) -> tensor<?xf64> {
  %n = "tir.constant"() {value = dense<-1> : tensor<i64>} : () -> tensor<i64>
  %0 = "tir.scan"(%n, %x, %a0) ({
  ^bb0(%xt: tensor<f64>, %a: tensor<f64>):
    %1 = "tir.add"(%a, %xt) : (tensor<f64>, tensor<f64>) -> tensor<f64>
    "tir.yield"(%1) : (tensor<f64>) -> ()
  }) {keep = array<i64: 0>, name = "", reverse = false, seq_taps = [array<i64: 0>], state_taps = [array<i64: -1>], truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<?xf64>, tensor<1xf64>) -> tensor<?xf64>
  %zero = "tir.constant"() {value = dense<0> : tensor<i64>} : () -> tensor<i64>
  %one = "tir.constant"() {value = dense<1> : tensor<i64>} : () -> tensor<i64>
  %s = "tir.slice_leading"(%0, %zero, %one) : (tensor<?xf64>, tensor<i64>, tensor<i64>) -> tensor<?xf64>
  %2 = "tir.scan"(%n, %x, %s) ({
  ^bb0(%xt2: tensor<f64>, %b: tensor<f64>):
    %3 = "tir.mul"(%b, %xt2) : (tensor<f64>, tensor<f64>) -> tensor<f64>
    "tir.yield"(%3) : (tensor<f64>) -> ()
  }) {keep = array<i64: 0>, name = "", reverse = false, seq_taps = [array<i64: 0>], state_taps = [array<i64: -1>], truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
  func.return %2 : tensor<?xf64>
}
