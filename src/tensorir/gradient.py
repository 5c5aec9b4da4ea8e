"""``tensorir.gradient``: Theano's gradient module."""

from tensorir.frontend.gradient import (
    DisconnectedInputError,
    GradientError,
    Lop,
    Rop,
    consider_constant,
    disconnected_grad,
    grad,
    grad_clip,
    grad_scale,
    hessian,
    jacobian,
    numeric_grad,
    verify_grad,
    zero_grad,
)

__all__ = [
    "DisconnectedInputError",
    "GradientError",
    "Lop",
    "Rop",
    "consider_constant",
    "disconnected_grad",
    "grad",
    "grad_clip",
    "grad_scale",
    "hessian",
    "jacobian",
    "numeric_grad",
    "verify_grad",
    "zero_grad",
]
