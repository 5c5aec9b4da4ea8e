"""Theano's debugging names map onto tensorir's tools."""

import numpy as np
import pytest


def test_nan_guard_debug_mode_and_pictures(theano, tmp_path):
    import theano.tensor as T
    from theano.compile.debugmode import DebugMode
    from theano.compile.nanguardmode import NanGuardMode

    import tensorir as tr

    assert NanGuardMode is tr.NanGuardMode and DebugMode is tr.DebugMode
    x = T.vector("x")
    f = theano.function([x], T.log(x) * 2, mode=NanGuardMode(nan_is_error=True, inf_is_error=True, big_is_error=False))
    with pytest.raises(FloatingPointError, match="tir.log"):
        f(np.array([-1.0]))
    g = theano.function([x], T.log(x) * 2, mode="NanGuardMode")
    with pytest.raises(FloatingPointError):
        g(np.array([-1.0]))
    path = theano.printing.pydotprint(g, outfile=str(tmp_path / "g.svg"), print_output_file=False)
    assert open(path).read().lstrip().startswith(("<?xml", "<svg", "<!--"))
    from theano.d3viz import d3viz

    assert d3viz(g, str(tmp_path / "g.html")).endswith("g.html")


def test_monitor_mode_advice(theano):
    with pytest.raises(AttributeError, match="NanGuardMode"):
        theano.compile.MonitorMode  # noqa: B018
