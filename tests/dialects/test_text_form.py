"""The textual form: print -> parse -> print is the identity; parse errors give line:col."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tensorir.dialects import ParseError, parse_module, print_module
from tensorir.dialects.parser import parse_attribute
from tensorir.dialects.printer import format_attribute

SAMPLE = """module {
  func.func @main(%x: tensor<?x10xf32>, %b: tensor<1x10xf32>) -> (tensor<?xf32>, tensor<?x10xf32>) {
    %0 = "tir.add"(%x, %b) : (tensor<?x10xf32>, tensor<1x10xf32>) -> tensor<?x10xf32>
    %1 = "tir.sum"(%0) {axis = array<i64: 1>, keepdims = false} : (tensor<?x10xf32>) -> tensor<?xf32>
    %2 = "tir.constant"() {value = dense<[1.5, -2.0]> : tensor<2xf32>} : () -> tensor<2xf32>
    func.return %1, %0 : tensor<?xf32>, tensor<?x10xf32>
  }
}
"""


def test_round_trip_is_identity():
    module = parse_module(SAMPLE)
    assert print_module(module) == SAMPLE
    assert print_module(parse_module(print_module(module, debug_info=True)), debug_info=True) == print_module(
        module, debug_info=True
    )


@pytest.mark.parametrize(
    "text, where, message",
    [
        ('module {\n  func.func @f(%x: tensor<f32>) {\n    %0 = "tir.nope"(%x) : (tensor<f32>) -> tensor<f32>\n',
         "3:10", "unknown operation 'tir.nope'"),
        ("module {\n  func.func @f(%x: tensor<f32>) {\n    func.return %y : tensor<f32>\n  }\n}\n",
         "3:17", "undefined value %y"),
        ('module {\n  func.func @f(%x: tensor<f32>) {\n    %0 = "tir.exp"(%x) : (tensor<f64>) -> tensor<f32>\n',
         "3:10", "operand types"),
        ("module {\n  func.func @f(%x: tensor<3xq7>) {\n", "2:20", "unknown element type"),
        ('module {\n  func.func @f(%x: tensor<3xf32>, %y: tensor<4xf32>) -> tensor<3xf32> {\n'
         '    %0 = "tir.add"(%x, %y) : (tensor<3xf32>, tensor<4xf32>) -> tensor<3xf32>\n',
         "3:10", "cannot be broadcast"),
    ],
)
def test_parse_errors_have_line_and_column(text, where, message):
    with pytest.raises(ParseError) as info:
        parse_module(text)
    assert str(info.value).startswith(where), str(info.value)
    assert message in str(info.value)


finite = st.floats(allow_nan=True, allow_infinity=True)
attribute_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**62), 2**62) | finite | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3).map(tuple),
    max_leaves=6,
)


@given(attribute_values)
def test_attributes_round_trip(value):
    text = format_attribute(value)
    parsed = parse_attribute(text)
    # nan != nan, so compare the printed forms (exact: floats print as shortest round-trip or hex).
    assert format_attribute(parsed) == text
    assert type(parsed) is type(value) or isinstance(value, tuple)


@given(st.sampled_from(["float32", "float64", "int8", "int64", "bool", "uint8"]),
       st.lists(st.integers(0, 4), max_size=3), st.data())
def test_dense_attributes_round_trip(dtype, shape, data):
    size = int(np.prod(shape))
    big = data.draw(st.booleans())
    rng = np.random.default_rng(size)
    if big:
        shape = [40]
        size = 40
    arr = (rng.standard_normal(size) * 100).astype(dtype).reshape(shape)
    parsed = parse_attribute(format_attribute(arr))
    assert parsed.dtype == arr.dtype and parsed.shape == arr.shape
    np.testing.assert_array_equal(parsed, arr)
