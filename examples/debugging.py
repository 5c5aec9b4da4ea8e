# %% [markdown]
# # Debugging and seeing the graph
#
# A graph is defined before it runs, so when something goes wrong the line that fails is not the
# line that is wrong. This notebook shows tensorir's tools for finding it, on small synthetic data
# (a few seconds, nothing downloaded):
#
# 1. the **NaN guard** finds the op that put a NaN in a gradient;
# 2. **DebugMode** checks every native step against its NumPy reference;
# 3. the **profiler** shows where a LeNet training step spends its time;
# 4. **pictures** of the logistic regression graph (`pydotprint`, and an HTML view for big graphs);
# 5. **why did this recompile** (`config.log = "cache"`), **test values** and `eval_intermediate`.
#
# Run it as a script too: `python examples/debugging.py` (the pictures go to `out/`).

# %%
import logging
import os
import sys
from pathlib import Path

import numpy as np
from lenet import LeNetConvPoolLayer
from logistic_regression import LogisticRegression
from mlp import HiddenLayer

import tensorir as tr
import tensorir.tensor as T

OUT = Path(os.environ.get("TENSORIR_EXAMPLES_OUT", "out"))
OUT.mkdir(parents=True, exist_ok=True)
tr.config.floatX = "float32"
rng = np.random.RandomState(1234)
# Synthetic "images": 64 vectors of 28 x 28 pixels and their labels.
data_x = rng.rand(64, 784).astype("float32")
data_y = rng.randint(0, 10, size=64).astype("int32")

# %% [markdown]
# ## 1. A NaN in the gradient, found by the guard
#
# A logistic regression with a penalty on the norm of its weights, $\|W\| = \sqrt{\sum W^2}$.
# The weights start at zero, where the norm's gradient $W / \|W\|$ is $0/0$: the first update
# fills `W` with NaN. Without the guard we only see the loss turn into NaN a step later.

# %%
x = T.matrix("x")
y = T.ivector("y")
model = LogisticRegression(x, n_in=784, n_out=10)
norm = T.sqrt(T.sum(model.W**2))
cost = model.negative_log_likelihood(y) + 0.01 * norm
params = model.params
updates = [(p, p - 0.1 * g) for p, g in zip(params, tr.grad(cost, params))]

train = tr.function([x, y], cost, updates=updates)
print("losses without the guard:", [float(train(data_x, data_y)) for _ in range(3)])

# %% [markdown]
# With `mode=tr.NanGuardMode(nan_is_error=True, inf_is_error=True)` every intermediate value is
# checked by a native kernel as it is made (forward and backward), and the first op that makes a
# bad value stops the call. Its message names the op, the line that built it and, for an op of
# the gradient, the forward op it belongs to: here the gradient of the `sqrt` of the norm. The
# shared variables keep their values when a call fails.

# %%
for p in params:
    p.set_value(np.zeros_like(p.get_value()))
guarded = tr.function([x, y], cost, updates=updates, mode=tr.NanGuardMode(nan_is_error=True, inf_is_error=True))
try:
    guarded(data_x, data_y)
except FloatingPointError as error:
    print(error)
print("W still finite:", bool(np.isfinite(model.W.get_value()).all()))

# %% [markdown]
# The fix: keep the norm away from zero. The guarded function now runs.

# %%
norm = T.sqrt(T.sum(model.W**2) + 1e-6)
cost = model.negative_log_likelihood(y) + 0.01 * norm
updates = [(p, p - 0.1 * g) for p, g in zip(params, tr.grad(cost, params))]
guarded = tr.function([x, y], cost, updates=updates, mode=tr.NanGuardMode())
print("guarded losses:", [round(float(guarded(data_x, data_y)), 4) for _ in range(3)])

# %% [markdown]
# ## 2. DebugMode: every step against its reference
#
# `mode="DebugMode"` runs the same native plan as `FAST_RUN`, and after each step also runs the
# op's NumPy reference on a copy of the inputs and compares (tolerances by dtype). It also checks
# that a step writing in place overwrote nothing still needed and that each result has the shape
# its inferred type allows. The first mismatch raises with the op, its inputs' shapes and the line.

# %%
checked = tr.function([x, y], cost, updates=updates, mode="DebugMode")
print("DebugMode loss:", float(checked(data_x, data_y)))
print(checked.executor.monitor.compared, "native steps agreed with their references")

# %% [markdown]
# ## 3. Profiling a LeNet step
#
# `tr.function(..., profile=True)` (or `tr.config.profile = True` for every function, with the
# summaries printed at exit) times each step of the plan and counts the memory it allocates;
# `f.profile.summary()` prints Theano-like tables, and the compile time split into phases.
# Profiled calls go step by step: compare steps with each other, not with unprofiled calls.

# %%
batch = 16
images = x.reshape((batch, 1, 28, 28))
layer0 = LeNetConvPoolLayer(rng, images, filter_shape=(4, 1, 5, 5), image_shape=(batch, 1, 28, 28))
layer1 = LeNetConvPoolLayer(rng, layer0.output, filter_shape=(8, 4, 5, 5), image_shape=(batch, 4, 12, 12))
layer2 = HiddenLayer(rng, layer1.output.flatten(2), n_in=8 * 4 * 4, n_out=32, activation=T.tanh)
layer3 = LogisticRegression(layer2.output, n_in=32, n_out=10)
lenet_cost = layer3.negative_log_likelihood(y)
lenet_params = layer3.params + layer2.params + layer1.params + layer0.params
lenet_updates = [(p, p - 0.1 * g) for p, g in zip(lenet_params, tr.grad(lenet_cost, lenet_params))]
lenet_step = tr.function([x, y], lenet_cost, updates=lenet_updates, profile=True, name="lenet_step")
for _ in range(5):
    lenet_step(data_x[:batch], data_y[:batch])
lenet_step.profile.summary(n_steps=12)

# %% [markdown]
# ## 4. Pictures of the graph
#
# `tr.printing.pydotprint(f, outfile=...)` draws the rewritten graph of a compiled function (or a
# variable's graph as built): inputs (green), shared variables (yellow), ops, constants, outputs,
# each edge labelled with dtype and shape, and each fused kernel as a cluster. With Graphviz
# installed it writes any format `dot` writes; without it, SVG drawn by tensorir itself.

# %%
picture = tr.printing.pydotprint(guarded, outfile=OUT / "logistic_regression.svg")
page = tr.printing.d3viz(lenet_step, OUT / "lenet_step.html")
print("interactive view of the LeNet step:", page)

# %%
from IPython.display import SVG, display  # noqa: E402 - only the notebook shows pictures

display(SVG(filename=picture))

# %% [markdown]
# ## 5. Why did this recompile, test values, intermediate values
#
# `TENSORIR_LOG=cache` (or `tr.config.log = "cache"`) logs each compile cache miss with the part
# of its key that differs, and each new argument signature of a function (a new batch size here).

# %%
tr.config.log = "cache"
logging.getLogger("tensorir.cache").addHandler(logging.StreamHandler(sys.stdout))
predict = tr.function([x], model.y_pred)
predict(data_x[:8])
predict(data_x[:16])
tr.config.log = ""

# %% [markdown]
# With `tr.config.compute_test_value = "raise"`, each op is evaluated on its operands' test
# values as it is built, so a shape error points at the line that built the op, not at a call.

# %%
tr.config.compute_test_value = "raise"
a = T.matrix("a")
a.tag.test_value = np.ones((3, 4), dtype="float32")
try:
    b = T.dot(a, a)  # (3, 4) x (3, 4): the mistake is on this line
except ValueError as error:
    print(error)
tr.config.compute_test_value = "off"

# %% [markdown]
# `tr.eval_intermediate(f, inputs, var)` gives the value any variable of the graph takes in a
# call of `f` with those inputs, even one the rewrites fused away.

# %%
probabilities = tr.eval_intermediate(guarded, [data_x, data_y], model.p_y_given_x)
print("P(y | x) of the first image:", np.round(probabilities[0], 3))
