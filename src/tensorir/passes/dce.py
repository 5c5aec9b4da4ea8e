"""Dead code elimination.

An op is dead when it is pure and none of its results is used; erasing it may make its operands'
producers dead in turn. Blocks are swept from the end, so a dead chain goes in one sweep; nested
regions (bodies of fused ops, loops) are swept too.
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorir.dialects.ir import Block, Operation
from tensorir.passes.pass_manager import Pass
from tensorir.passes.rewriter import is_dead


def eliminate_dead_code(root: Operation) -> bool:
    """Erase every dead op under ``root``; returns whether anything was erased."""
    changed = False
    blocks: list[Block] = [blk for region in root.regions for blk in region.blocks]
    while blocks:
        block = blocks.pop()
        keep: list[Operation] = []
        # From the end: users come after their operands, so one sweep removes a dead chain.
        for op in reversed(block.operations):
            if is_dead(op):
                for r in op.results:  # results are unused; drop what the op (and its regions) read
                    assert not r.uses
                for inner in _walk_ops(op):
                    inner.drop_operand_uses()
                op.parent = None
                changed = True
            else:
                keep.append(op)
                for region in op.regions:
                    blocks.extend(region.blocks)
        keep.reverse()
        block.operations = keep
    return changed


def _walk_ops(op: Operation) -> list[Operation]:
    from tensorir.dialects.ir import walk

    return list(walk(op))


@dataclass
class DCEPass(Pass):
    """Erase pure ops whose results are unused."""

    name = "dce"
    summary = "dead code elimination: erase pure ops whose results are unused"

    def run(self, func: Operation) -> bool:
        return eliminate_dead_code(func)
