"""Theano idioms the tutorials rely on: truthiness, lossless conversions, the Rop example,
xlogy0, theano.compile's pieces, config flags and modes, and pickling a checkpoint."""

import os
import pickle
import sys

import numpy
import theano
import theano.tensor as T
from theano.compile import In, Out
from theano.compile.mode import get_default_mode
from theano.ifelse import ifelse

# A variable is truthy; a comparison refuses, and says to test `is None`.
W = T.dmatrix("W")
assert W and not (not W)
try:
    bool(W > 0)
except TypeError as exc:
    assert "is None" in str(exc)
else:
    raise AssertionError("a comparison must have no truth value")

# Lossless Python values into float32 storage and inputs.
s = theano.shared(numpy.zeros((), dtype="float32"))
s.set_value(1.0)
assert s.get_value() == 1.0 and s.get_value().dtype == numpy.float32
v = T.fvector("v")
double = theano.function([v], v * 2)
assert numpy.allclose(double([1, 2, 3]), [2, 4, 6])

# The gradients tutorial's Rop example, as written.
V = T.dmatrix("V")
x = T.dvector("x")
y = T.dot(x, W)
JV = T.Rop(y, W, V)
f = theano.function([W, V, x], JV)
assert numpy.allclose(f([[1, 1], [1, 1]], [[2, 2], [2, 2]], [0, 1]), [2, 2])

# x log y with the 0 log 0 = 0 convention, value and gradient.
p = T.dvector("p")
entropy = -T.xlogx.xlogy0(p, p).sum()
h_and_grad = theano.function([p], [entropy, T.grad(entropy, p)])
h, g = h_and_grad([0.0, 0.5, 0.5])
assert numpy.isclose(h, numpy.log(2)) and numpy.all(numpy.isfinite(g))

# theano.compile: In with a default, Out, modes by linker and optimizer, the default mode.
a, b = T.dscalars("a", "b")
add = theano.function([a, In(b, value=10.0)], Out(a + b, borrow=True), mode=theano.Mode(linker="py", optimizer="None"))
assert add(1.0) == 11.0
assert get_default_mode() is not None
choose = theano.function([a, b], ifelse(T.lt(a, b), a, b), mode="FAST_COMPILE")
assert choose(1.0, 2.0) == 1.0
assert theano.config.warn.round in (True, False) and theano.config.compute_test_value == "off"
assert theano.config.optimizer == "fast_run" and theano.config.exception_verbosity == "low"

# A checkpoint: parameters and a compiled function, reloaded in a later run of this program.
counter = theano.shared(numpy.float64(0.0), name="counter")
tick = theano.function([], counter, updates=[(counter, counter + 1)])
path = sys.argv[1] if len(sys.argv) > 1 else None
if path and os.path.exists(path):
    tick, counter = pickle.load(open(path, "rb"))
    assert counter.get_value() == 2.0
    tick()
    assert counter.get_value() == 3.0  # the function updates the loaded variable itself
    print("OK idioms (reloaded)")
else:
    tick()
    tick()
    if path:
        with open(path, "wb") as handle:
            pickle.dump((tick, counter), handle, protocol=pickle.HIGHEST_PROTOCOL)
    print("OK idioms")
