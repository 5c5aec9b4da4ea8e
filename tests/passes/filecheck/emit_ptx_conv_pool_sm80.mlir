// RUN: tensorir-opt %s --emit=ptx --chip sm_80 | filecheck %s
// LeNet's layer on the GPU: the convolution's im2col kernel (its products are cuBLAS or cuDNN
// calls, not kernels), max pooling with the window clipped to the image (maxima of signed
// bounds), the filter gradient's im2col and channels-first copy, and an average pooling
// gradient that divides in float64 and rounds once.

// CHECK: .version 7.0
// CHECK: .target sm_80
// CHECK: .visible .entry f_0_conv2d_im2col(
// CHECK: ld.global.nc.b32
// CHECK: .visible .entry f_1_pool2d(
// CHECK: max.s64
// CHECK: setp.gt.f32
// CHECK: .visible .entry f_3_conv2d_grad_filters_im2col(
// CHECK: .visible .entry f_3_conv2d_grad_filters_channels_first(
// CHECK: .visible .entry f_4_pool2d_grad(
// CHECK-DAG: div.rn.f64
// CHECK-DAG: cvt.rn.f32.f64
// CHECK-NOT: .entry f_5
func.func @f(%x: tensor<8x3x12x12xf32>, %w: tensor<4x3x5x5xf32>, %gy: tensor<8x4x8x8xf32>) -> (tensor<8x4x4x4xf32>, tensor<4x3x5x5xf32>, tensor<8x4x8x8xf32>) {
  %0 = "tir.conv2d"(%x, %w) {padding = array<i64: 0, 0>, subsample = array<i64: 1, 1>, filter_flip = true, filter_dilation = array<i64: 1, 1>, num_groups = 1 : i64} : (tensor<8x3x12x12xf32>, tensor<4x3x5x5xf32>) -> tensor<8x4x8x8xf32>
  %1 = "tir.pool2d"(%0) {ws = array<i64: 2, 2>, stride = array<i64: 2, 2>, pad = array<i64: 0, 0>, ignore_border = true, mode = "max"} : (tensor<8x4x8x8xf32>) -> tensor<8x4x4x4xf32>
  %2 = "tir.shape"(%w) : (tensor<4x3x5x5xf32>) -> tensor<4xi64>
  %3 = "tir.conv2d_grad_filters"(%x, %gy, %2) {padding = array<i64: 0, 0>, subsample = array<i64: 1, 1>, filter_flip = true, filter_dilation = array<i64: 1, 1>, num_groups = 1 : i64, static_shape = array<i64: 4, 3, 5, 5>} : (tensor<8x3x12x12xf32>, tensor<8x4x8x8xf32>, tensor<4xi64>) -> tensor<4x3x5x5xf32>
  %4 = "tir.pool2d_grad"(%0, %1) {ws = array<i64: 2, 2>, stride = array<i64: 2, 2>, pad = array<i64: 0, 0>, ignore_border = true, mode = "average_inc_pad"} : (tensor<8x4x8x8xf32>, tensor<8x4x4x4xf32>) -> tensor<8x4x8x8xf32>
  func.return %1, %3, %4 : tensor<8x4x4x4xf32>, tensor<4x3x5x5xf32>, tensor<8x4x8x8xf32>
}
