// RUN: tensorir-opt %s -p schedule-collectives | filecheck %s

// A two-layer backward pass: %g1 (the last layer's gradient) exists first and its start goes
// right after it, before the work that computes %g0; the waits go only where nothing else can
// run, right before the updates that read them. Starts are numbered in the order they run.
// CHECK-LABEL: func.func @step
// CHECK: %[[G1:.*]] = "tir.mul"(%d, %h)
// CHECK-NEXT: %[[T1:.*]] = "tir.allreduce_start"(%[[G1]]) {{.*}}index = 0
// CHECK: %[[D0:.*]] = "tir.mul"(%d, %w1)
// CHECK-NEXT: %[[G0:.*]] = "tir.mul"(%[[D0]], %x)
// CHECK-NEXT: %[[T0:.*]] = "tir.allreduce_start"(%[[G0]]) {{.*}}index = 1
// CHECK-NEXT: %[[R0:.*]] = "tir.allreduce_wait"(%[[T0]]) {{.*}}index = 1
// CHECK-NEXT: "tir.sub"(%w0, %[[R0]])
// CHECK-NEXT: %[[R1:.*]] = "tir.allreduce_wait"(%[[T1]]) {{.*}}index = 0
// CHECK-NEXT: "tir.sub"(%w1, %[[R1]])
// CHECK-NOT: "tir.allreduce"(
func.func @step(%x: tensor<?xf64>, %h: tensor<?xf64>, %d: tensor<?xf64>, %w0: tensor<?xf64>, %w1: tensor<?xf64>) -> (tensor<?xf64>, tensor<?xf64>) {
  %d0 = "tir.mul"(%d, %w1) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
  %g0 = "tir.mul"(%d0, %x) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
  %g1 = "tir.mul"(%d, %h) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
  %r0, %r1 = "tir.allreduce"(%g0, %g1) {reduce = "mean", group = "world", group_size = 2 : i64, overlap = true} : (tensor<?xf64>, tensor<?xf64>) -> (tensor<?xf64>, tensor<?xf64>)
  %n0 = "tir.sub"(%w0, %r0) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
  %n1 = "tir.sub"(%w1, %r1) : (tensor<?xf64>, tensor<?xf64>) -> tensor<?xf64>
  func.return %n0, %n1 : tensor<?xf64>, tensor<?xf64>
}
