"""The IR: core data structures, the textual form, and the tir op families."""

from tensorir.dialects.builder import Builder
from tensorir.dialects.builtin import func_body, func_outputs, make_func
from tensorir.dialects.interpret import EvaluationError, run_block, run_function
from tensorir.dialects.ir import (
    Block,
    BlockArgument,
    FreeValue,
    Location,
    Module,
    Operation,
    OpResult,
    Region,
    Value,
    clone_graph,
    clone_operation,
    walk,
)
from tensorir.dialects.opdef import IRError, OpDef
from tensorir.dialects.parser import ParseError, parse_module
from tensorir.dialects.printer import print_func, print_module
from tensorir.dialects.types import TensorType
from tensorir.dialects.verifier import verify

__all__ = [
    "Block",
    "BlockArgument",
    "Builder",
    "EvaluationError",
    "FreeValue",
    "IRError",
    "Location",
    "Module",
    "OpDef",
    "OpResult",
    "Operation",
    "ParseError",
    "Region",
    "TensorType",
    "Value",
    "clone_graph",
    "clone_operation",
    "func_body",
    "func_outputs",
    "make_func",
    "parse_module",
    "print_func",
    "print_module",
    "run_block",
    "run_function",
    "verify",
    "walk",
]
