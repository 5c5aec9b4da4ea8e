"""Which Theano module path is made of which tensorir objects: the whole mapping, as data.

Each Theano module is described by a :class:`TheanoModule`: tensorir modules whose public names
it takes (later ones win), single names taken from elsewhere (``"module:attribute"``), the child
modules it imports as Theano's ``__init__`` files did (so ``theano.tensor.nnet.sigmoid`` works
after ``import theano``), and names Theano had that tensorir deliberately lacks, each with what
to use instead (the error a program gets says so).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class TheanoModule:
    """One Theano module path: where its names come from, and what it lacks (with advice)."""

    sources: tuple[str, ...] = ()
    names: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    children: tuple[str, ...] = ()
    missing: Mapping[str, str] = field(default_factory=lambda: _EMPTY)


_COMPAT = "tensorir.theano_compat"
# What ``theano.__version__`` says: the Theano release whose API the layer follows.
THEANO_VERSION = "1.0.5"
_NO_CUSTOM_OPS = "tensorir has no Python-level Op classes; write the computation with tensorir.tensor ops"

MODULES: dict[str, TheanoModule] = {
    "theano": TheanoModule(
        sources=("tensorir",),
        names={
            "config": f"{_COMPAT}.config:config",
            "function": f"{_COMPAT}.compile:function",
            "Mode": f"{_COMPAT}.compile:Mode",
            "In": f"{_COMPAT}.compile:In",
            "Out": f"{_COMPAT}.compile:Out",
            "dot": "tensorir.tensor:dot",
            "tensor": "tensorir.tensor",
            "__version__": f"{_COMPAT}.module_table:THEANO_VERSION",
        },
        children=("tensor", "compile", "gradient", "ifelse", "printing", "scalar", "sandbox", "scan_module", "d3viz"),
        missing={
            "Op": _NO_CUSTOM_OPS,
            "Apply": _NO_CUSTOM_OPS,
            "sparse": "tensorir has no sparse tensors; use dense arrays",
            "sparse_grad": "tensorir has no sparse gradients; the dense gradient of the indexing is used",
            "ProfileMode": "ProfileMode was removed in Theano 0.9; use function(..., profile=True)",
        },
    ),
    "theano.tensor": TheanoModule(
        sources=("tensorir.tensor",),
        names={
            "shared_randomstreams": "tensorir.tensor.shared_randomstreams",
            "xlogx": f"{_COMPAT}.xlogx",
        },
        children=("nnet", "signal", "shared_randomstreams", "extra_ops", "basic", "xlogx", "type", "sharedvar"),
        missing={
            "cumsum": "tensorir has no cumsum op yet; use theano.scan or a matrix product with a triangular matrix",
            "cumprod": "tensorir has no cumprod op yet; use theano.scan",
            "sort": "tensorir has no sort op; sort the values with NumPy outside the graph",
            "argsort": "tensorir has no argsort op; sort with NumPy outside the graph",
            "nlinalg": "use the functions of tensorir.tensor (dot, matrix_inverse, ...) directly",
            "slinalg": "use the functions of tensorir.tensor directly",
            "raw_random": "use theano.tensor.shared_randomstreams.RandomStreams",
        },
    ),
    "theano.tensor.basic": TheanoModule(sources=("tensorir.tensor",)),
    "theano.tensor.type": TheanoModule(names={"TensorType": "tensorir.tensor:TensorType"}),
    "theano.tensor.sharedvar": TheanoModule(
        names={"TensorSharedVariable": "tensorir:SharedVariable", "tensor_constructor": "tensorir:shared"},
    ),
    "theano.tensor.xlogx": TheanoModule(sources=(f"{_COMPAT}.xlogx",)),
    "theano.tensor.extra_ops": TheanoModule(
        sources=(f"{_COMPAT}.extra_ops",),
        names={"repeat": "tensorir.tensor:repeat", "squeeze": "tensorir.tensor:squeeze",
               "to_one_hot": "tensorir.tensor.nnet:to_one_hot"},
        missing={
            "cumsum": "tensorir has no cumsum op yet; use theano.scan",
            "cumprod": "tensorir has no cumprod op yet; use theano.scan",
            "bincount": "tensorir has no bincount op; count with NumPy outside the graph",
            "searchsorted": "tensorir has no searchsorted op; search with NumPy outside the graph",
        },
    ),
    "theano.tensor.nnet": TheanoModule(
        sources=("tensorir.tensor.nnet",),
        children=("nnet", "sigm", "conv", "abstract_conv", "bn", "neighbours"),
        missing={
            "conv3d": "tensorir has 2-d convolutions only (conv2d)",
            "h_softmax": "tensorir has no hierarchical softmax; use softmax",
        },
    ),
    # Theano's implementation modules, which some programs import names from directly.
    "theano.tensor.nnet.nnet": TheanoModule(sources=("tensorir.tensor.nnet",)),
    "theano.tensor.nnet.sigm": TheanoModule(
        names={name: f"tensorir.tensor.nnet:{name}" for name in (
            "sigmoid", "ultra_fast_sigmoid", "hard_sigmoid", "softplus")},
    ),
    "theano.tensor.nnet.conv": TheanoModule(names={"conv2d": "tensorir.tensor.nnet:conv2d"}),
    "theano.tensor.nnet.abstract_conv": TheanoModule(
        names={
            "conv2d": "tensorir.tensor.nnet:conv2d",
            "conv2d_grad_wrt_inputs": "tensorir.tensor.nnet:conv2d_grad_wrt_inputs",
            "conv2d_grad_wrt_weights": "tensorir.tensor.nnet:conv2d_grad_wrt_weights",
        },
        missing={"conv3d": "tensorir has 2-d convolutions only (conv2d)"},
    ),
    "theano.tensor.nnet.bn": TheanoModule(
        names={
            "batch_normalization": "tensorir.tensor.nnet:batch_normalization",
            "batch_normalization_train": "tensorir.tensor.nnet:batch_normalization_train",
            "batch_normalization_test": "tensorir.tensor.nnet:batch_normalization_test",
        },
    ),
    "theano.tensor.nnet.neighbours": TheanoModule(
        missing={
            "images2neibs": "tensorir has no images2neibs op; take patches with reshape and dimshuffle",
            "neibs2images": "tensorir has no neibs2images op; rebuild images with reshape and dimshuffle",
        },
    ),
    "theano.tensor.signal": TheanoModule(children=("pool", "downsample")),
    "theano.tensor.signal.pool": TheanoModule(
        sources=("tensorir.tensor.signal.pool",),
        missing={"pool_3d": "tensorir pools 2-d windows only (pool_2d)"},
    ),
    "theano.tensor.signal.downsample": TheanoModule(sources=(f"{_COMPAT}.downsample",)),
    "theano.tensor.shared_randomstreams": TheanoModule(sources=("tensorir.tensor.shared_randomstreams",)),
    "theano.sandbox": TheanoModule(
        children=("rng_mrg",),
        missing={"cuda": "tensorir chooses the device with config.device", "gpuarray": "use config.device"},
    ),
    "theano.sandbox.rng_mrg": TheanoModule(
        names={"MRG_RandomStreams": "tensorir.tensor.shared_randomstreams:MRG_RandomStreams"},
    ),
    "theano.compile": TheanoModule(
        sources=(f"{_COMPAT}.compile",),
        names={"shared": "tensorir:shared", "SharedVariable": "tensorir:SharedVariable",
               "DebugMode": "tensorir.frontend.debug_modes:DebugMode",
               "NanGuardMode": "tensorir.frontend.debug_modes:NanGuardMode",
               "ProfileStats": "tensorir.frontend.profiling:ProfileStats"},
        children=("mode", "io", "sharedvalue", "function_module", "nanguardmode", "debugmode", "profiling"),
        missing={
            "MonitorMode": "tensorir has no per-node callback mode: use mode=NanGuardMode(...) to stop at the first "
                           "bad value, function(..., profile=True) to time each step, or "
                           "tensorir.eval_intermediate(f, inputs, var) to see any intermediate value",
            "ProfileMode": "ProfileMode was removed in Theano 0.9; use function(..., profile=True)",
            "OpFromGraph": "call a Python function that builds the graph instead",
            "as_op": _NO_CUSTOM_OPS,
        },
    ),
    "theano.compile.mode": TheanoModule(
        names={name: f"{_COMPAT}.compile:{name}" for name in (
            "Mode", "get_default_mode", "get_mode", "predefined_modes", "predefined_linkers", "predefined_optimizers")},
    ),
    "theano.compile.nanguardmode": TheanoModule(names={"NanGuardMode": "tensorir.frontend.debug_modes:NanGuardMode"}),
    "theano.compile.debugmode": TheanoModule(names={"DebugMode": "tensorir.frontend.debug_modes:DebugMode"}),
    "theano.compile.profiling": TheanoModule(names={"ProfileStats": "tensorir.frontend.profiling:ProfileStats"}),
    "theano.d3viz": TheanoModule(names={"d3viz": "tensorir.frontend.graph_html:d3viz"}),
    "theano.compile.io": TheanoModule(names={"In": f"{_COMPAT}.compile:In", "Out": f"{_COMPAT}.compile:Out"}),
    "theano.compile.sharedvalue": TheanoModule(
        names={"shared": "tensorir:shared", "SharedVariable": "tensorir:SharedVariable"},
    ),
    "theano.compile.function_module": TheanoModule(
        names={"function": f"{_COMPAT}.compile:function", "Function": "tensorir:Function",
               "UnusedInputError": "tensorir.frontend.function:UnusedInputError"},
    ),
    "theano.gradient": TheanoModule(
        sources=("tensorir.gradient",),
        missing={
            "grad_not_implemented": _NO_CUSTOM_OPS,
            "grad_undefined": _NO_CUSTOM_OPS,
            "subgraph_grad": "use theano.grad with known_grads",
        },
    ),
    "theano.ifelse": TheanoModule(sources=("tensorir.ifelse",)),
    "theano.printing": TheanoModule(
        names={"debugprint": "tensorir.frontend.printing:debugprint", "pp": "tensorir.frontend.printing:pp",
               "pprint": "tensorir.frontend.printing:pprint", "pydotprint": "tensorir.frontend.printing:pydotprint"},
        missing={
            "Print": "tensorir has no printing op: tensorir.eval_intermediate(f, inputs, var) gives any intermediate's "
                     "value for a call's inputs (or return the value as an extra output of the function)",
        },
    ),
    "theano.scalar": TheanoModule(sources=(f"{_COMPAT}.scalar",)),
    "theano.scan_module": TheanoModule(sources=("tensorir.scan_module",)),
}
