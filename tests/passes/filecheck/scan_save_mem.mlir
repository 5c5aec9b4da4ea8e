// RUN: tensorir-opt %s -p scan-save-mem | filecheck %s

// Theano's power example: only result[-1] is read (through the slice that drops the initial
// window), so the loop keeps one row.
// CHECK-LABEL: func.func @power
// CHECK: %[[L:.*]] = "tir.scan"
// CHECK: keep = array<i64: 1>
// CHECK-SAME: -> tensor<1x?xf64>
// CHECK-NEXT: %[[R:.*]] = "tir.subtensor"(%[[L]]) {index = "-1"}
// CHECK-NEXT: func.return %[[R]]
func.func @power(%a: tensor<?xf64>, %k: tensor<i64>, %init: tensor<1x?xf64>) -> tensor<?xf64> {
  %0 = "tir.scan"(%k, %init, %a) ({
  ^bb0(%prior: tensor<?xf64>, %ab: tensor<?xf64>):
    %1 = "tir.mul"(%prior, %ab) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
    "tir.yield"(%1) : (tensor<?xf64>) -> ()
  }) {keep = array<i64: 0>, name = "", reverse = false, seq_taps = array<i64>, state_taps = [array<i64: -1>], truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<1x?xf64>, tensor<?xf64>) -> tensor<?x?xf64>
  %one = "tir.constant"() {value = dense<1> : tensor<i64>} : () -> tensor<i64>
  %len = "tir.shape_i"(%0) {i = 0 : i64} : (tensor<?x?xf64>) -> tensor<i64>
  %steps = "tir.slice_leading"(%0, %one, %len) : (tensor<?x?xf64>, tensor<i64>, tensor<i64>) -> tensor<?x?xf64>
  %last = "tir.subtensor"(%steps) {index = "-1"} : (tensor<?x?xf64>) -> tensor<?xf64>
  func.return %last : tensor<?xf64>
}

// Rows -1 and -3 of a plain output: three rows kept. A result read whole is left alone.
// CHECK-LABEL: func.func @last_rows
// CHECK: keep = array<i64: 3, 0>
// CHECK-SAME: -> (tensor<3xf64>, tensor<?xf64>)
func.func @last_rows(%x: tensor<?xf64>) -> (tensor<f64>, tensor<f64>, tensor<?xf64>) {
  %n = "tir.constant"() {value = dense<-1> : tensor<i64>} : () -> tensor<i64>
  %0:2 = "tir.scan"(%n, %x) ({
  ^bb0(%xt: tensor<f64>):
    %1 = "tir.exp"(%xt) : (tensor<f64>) -> tensor<f64>
    %2 = "tir.sin"(%xt) : (tensor<f64>) -> tensor<f64>
    "tir.yield"(%1, %2) : (tensor<f64>, tensor<f64>) -> ()
  }) {keep = array<i64: 0, 0>, name = "", reverse = false, seq_taps = [array<i64: 0>], state_taps = array<i64>, truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<?xf64>) -> (tensor<?xf64>, tensor<?xf64>)
  %a = "tir.subtensor"(%0#0) {index = "-1"} : (tensor<?xf64>) -> tensor<f64>
  %b = "tir.subtensor"(%0#0) {index = "-3"} : (tensor<?xf64>) -> tensor<f64>
  func.return %a, %b, %0#1 : tensor<f64>, tensor<f64>, tensor<?xf64>
}

// x[-2:] keeps two rows when at least two steps run (n_steps = 5), not when their number is unknown.
// CHECK-LABEL: func.func @last_slice
// CHECK: keep = array<i64: 2>
// CHECK: keep = array<i64: 0>
func.func @last_slice(%a: tensor<?xf64>, %k: tensor<i64>) -> (tensor<?xf64>, tensor<?xf64>) {
  %n = "tir.constant"() {value = dense<5> : tensor<i64>} : () -> tensor<i64>
  %0 = "tir.scan"(%n, %a) ({
  ^bb0(%ab: tensor<f64>):
    %1 = "tir.exp"(%ab) : (tensor<f64>) -> tensor<f64>
    "tir.yield"(%1) : (tensor<f64>) -> ()
  }) {keep = array<i64: 0>, name = "", reverse = false, seq_taps = [array<i64: 0>], state_taps = array<i64>, truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<?xf64>) -> tensor<?xf64>
  %2 = "tir.subtensor"(%0) {index = "-2:"} : (tensor<?xf64>) -> tensor<?xf64>
  %3 = "tir.scan"(%k, %a) ({
  ^bb0(%ab2: tensor<f64>):
    %4 = "tir.exp"(%ab2) : (tensor<f64>) -> tensor<f64>
    "tir.yield"(%4) : (tensor<f64>) -> ()
  }) {keep = array<i64: 0>, name = "", reverse = false, seq_taps = [array<i64: 0>], state_taps = array<i64>, truncate_gradient = -1 : i64, until = false, with_index = false} : (tensor<i64>, tensor<?xf64>) -> tensor<?xf64>
  %5 = "tir.subtensor"(%3) {index = "-2:"} : (tensor<?xf64>) -> tensor<?xf64>
  func.return %2, %5 : tensor<?xf64>, tensor<?xf64>
}
