# %% [markdown]
# # A character-level LSTM language model
#
# An LSTM reads text one character at a time and predicts the next one. Training unrolls it
# with `tr.scan` over whole sequences and back-propagates through every time step (full BPTT).
# Afterwards a compiled one-step function generates text, sampling one character at a time with a
# temperature. The default text is tiny-shakespeare when it is found (any text file works).
#
# Run it with `python examples/lstm_text.py` (`--help` for the options).

# %%
import time
from collections.abc import Sequence

import numpy as np
from common import make_parser, parse_args, plot_training_curve, progress, save_history

import tensorir as tr
import tensorir.tensor as T
from tensorir.datasets import CharVocabulary, load_text, sequence_batches, split_ids

FULL = {
    "epochs": 5,
    "batch_size": 64,
    "learning_rate": 0.002,
    "train_size": None,
    "seq_len": 100,
    "n_hidden": 512,
    "n_embed": 64,
    "batches_per_epoch": None,
    "valid_batches": 50,
    "clip_norm": 5.0,
    "sample_length": 400,
}
QUICK = {
    "epochs": 2,
    "batch_size": 8,
    "learning_rate": 0.01,
    "train_size": 20000,
    "seq_len": 16,
    "n_hidden": 32,
    "n_embed": 16,
    "batches_per_epoch": 15,
    "valid_batches": 5,
    "sample_length": 100,
}


# %% [markdown]
# ## The LSTM cell
#
# With $z_t = x_t W + h_{t-1} U + b$ cut into four blocks,
# $i, f, o = \sigma(z^{(i)}), \sigma(z^{(f)}), \sigma(z^{(o)})$, $g = \tanh(z^{(g)})$,
# $c_t = f \odot c_{t-1} + i \odot g$ and $h_t = o \odot \tanh(c_t)$.
# The input part $x_t W + b$ does not depend on the recurrence, so it is computed for all time
# steps in one matrix product before the scan.


# %%
class CharLSTM:
    """Embedding, one LSTM layer and a softmax over the vocabulary; parameters as shared variables."""

    def __init__(self, rng: np.random.RandomState, n_vocab: int, n_embed: int, n_hidden: int):
        floatX = tr.config.floatX

        def uniform(shape, fan_in, fan_out):
            bound = np.sqrt(6.0 / (fan_in + fan_out))
            return np.asarray(rng.uniform(-bound, bound, size=shape), dtype=floatX)

        H = n_hidden
        b = np.zeros(4 * H, dtype=floatX)
        b[H : 2 * H] = 1.0  # forget-gate bias 1: remember by default early in training
        self.n_hidden = n_hidden
        self.E = tr.shared(uniform((n_vocab, n_embed), n_vocab, n_embed), name="E", borrow=True)
        self.W = tr.shared(uniform((n_embed, 4 * H), n_embed, H), name="W", borrow=True)
        self.U = tr.shared(uniform((H, 4 * H), H, H), name="U", borrow=True)
        self.b = tr.shared(b, name="b", borrow=True)
        self.V = tr.shared(uniform((H, n_vocab), H, n_vocab), name="V", borrow=True)
        self.c = tr.shared(np.zeros(n_vocab, dtype=floatX), name="c", borrow=True)
        self.params = [self.E, self.W, self.U, self.b, self.V, self.c]

    def input_projection(self, x):
        """(seq, batch) char ids -> (seq, batch, 4H) input part of the gate pre-activations."""
        emb = self.E[x.flatten()].reshape((x.shape[0], x.shape[1], self.E.shape[1]))
        return T.dot(emb, self.W) + self.b

    def step(self, x_proj_t, h_tm1, c_tm1, U):
        """One time step; ``U`` comes in as a non-sequence so scan's gradient sees it."""
        H = self.n_hidden
        preact = x_proj_t + T.dot(h_tm1, U)
        i = T.nnet.sigmoid(preact[:, 0:H])
        f = T.nnet.sigmoid(preact[:, H : 2 * H])
        o = T.nnet.sigmoid(preact[:, 2 * H : 3 * H])
        g = T.tanh(preact[:, 3 * H : 4 * H])
        c_t = f * c_tm1 + i * g
        h_t = o * T.tanh(c_t)
        return h_t, c_t

    def hidden_states(self, x):
        """Run the LSTM over (seq, batch) ids from a zero state; returns h of shape (seq, batch, H)."""
        n_samples = x.shape[1]
        h0 = T.alloc(np.asarray(0.0, dtype=tr.config.floatX), n_samples, self.n_hidden)
        c0 = T.alloc(np.asarray(0.0, dtype=tr.config.floatX), n_samples, self.n_hidden)
        (h, c), _ = tr.scan(
            fn=self.step,
            sequences=[self.input_projection(x)],
            outputs_info=[h0, c0],
            non_sequences=[self.U],
            n_steps=x.shape[0],
        )
        return h

    def cost(self, x, y):
        """Mean cross-entropy in nats per character of predicting ``y`` (x shifted by one)."""
        h = self.hidden_states(x)
        # One softmax over all (time, sequence) pairs at once: flatten to (seq * batch, H).
        h_flat = h.reshape((h.shape[0] * h.shape[1], self.n_hidden))
        p_y = T.nnet.softmax(T.dot(h_flat, self.V) + self.c)
        return T.mean(T.nnet.categorical_crossentropy(p_y, y.flatten()))


# %% [markdown]
# ## Adam with gradient-norm clipping
#
# Back-propagation through long sequences occasionally produces huge gradients; rescaling them
# all together when their global norm passes `clip_norm` keeps a step's direction and bounds its
# size. Adam's moment estimates are shared variables updated alongside the parameters.


# %%
def adam_updates(cost, params, learning_rate: float, clip_norm: float, b1: float = 0.9, b2: float = 0.999):
    """The (shared variable, new value) pairs of one Adam step, and the gradient norm before clipping."""
    floatX = tr.config.floatX
    grads = tr.grad(cost, wrt=params)
    norm = T.sqrt(sum(T.sum(g**2) for g in grads))
    scale = T.minimum(1.0, clip_norm / (norm + 1e-6))
    t = tr.shared(np.asarray(0.0, dtype=floatX), name="t")
    t_new = t + 1
    # Bias correction folded into the step size: lr * sqrt(1 - b2^t) / (1 - b1^t).
    lr_t = T.cast(learning_rate * T.sqrt(1 - b2**t_new) / (1 - b1**t_new), floatX)
    updates = [(t, t_new)]
    for param, grad in zip(params, grads):
        grad = grad * scale
        m = tr.shared(np.zeros_like(param.get_value()), name=f"m_{param.name}")
        v = tr.shared(np.zeros_like(param.get_value()), name=f"v_{param.name}")
        m_new = b1 * m + (1 - b1) * grad
        v_new = b2 * v + (1 - b2) * grad**2
        updates += [(m, m_new), (v, v_new), (param, param - lr_t * m_new / (T.sqrt(v_new) + 1e-8))]
    return updates, norm


# %% [markdown]
# ## Sampling
#
# The one-step function takes a character id, the previous state and a temperature; dividing the
# logits by a temperature below 1 sharpens the distribution (safer, more repetitive text), above 1
# flattens it (more surprising, more misspelt).


# %%
def compile_step_function(model: CharLSTM):
    """tr.function(char, h, c, temperature) -> (next-char probabilities, h, c), for a batch of one."""
    char = T.ivector("char")
    h_prev = T.matrix("h_prev")
    c_prev = T.matrix("c_prev")
    temperature = T.scalar("temperature")
    x_proj = T.dot(model.E[char], model.W) + model.b
    h_next, c_next = model.step(x_proj, h_prev, c_prev, model.U)
    probs = T.nnet.softmax((T.dot(h_next, model.V) + model.c) / temperature)
    return tr.function([char, h_prev, c_prev, temperature], [probs, h_next, c_next])


def generate(
    step_fn, vocabulary: CharVocabulary, n_hidden: int, prompt: str, length: int, temperature: float, rng
) -> str:
    """Feed ``prompt`` through the LSTM, then sample ``length`` characters one at a time."""
    floatX = tr.config.floatX
    h = np.zeros((1, n_hidden), dtype=floatX)
    c = np.zeros((1, n_hidden), dtype=floatX)
    temp = np.asarray(temperature, dtype=floatX)
    prompt = vocabulary.filter(prompt) or vocabulary.chars[int(rng.integers(len(vocabulary)))]
    ids = vocabulary.encode(prompt)
    for char_id in ids[:-1]:  # prime the state with all but the last prompt character
        _, h, c = step_fn(np.array([char_id], dtype=np.int32), h, c, temp)
    current = int(ids[-1])
    generated = []
    for _ in range(length):
        probs, h, c = step_fn(np.array([current], dtype=np.int32), h, c, temp)
        p = np.asarray(probs[0], dtype=np.float64)
        current = int(rng.choice(len(p), p=p / p.sum()))  # renormalize: float32 sums are not exactly 1
        generated.append(vocabulary.chars[current])
    return prompt + "".join(generated)


# %% [markdown]
# ## Training


# %%
def main(argv: Sequence[str] | None = None) -> dict:
    """Train the char-LSTM, report validation loss per epoch, print a sample; return the history."""
    parser = make_parser("Character-level LSTM language model trained with scan and full BPTT.", FULL, QUICK)
    parser.add_argument("--seq-len", type=int, help="characters per training sequence (default 100)")
    parser.add_argument("--n-hidden", type=int, help="LSTM units (default 512)")
    parser.add_argument("--n-embed", type=int, help="character embedding size (default 64)")
    parser.add_argument("--batches-per-epoch", type=int, help="stop an epoch after this many batches (default all)")
    parser.add_argument("--valid-batches", type=int, help="validation batches per evaluation (default 50)")
    parser.add_argument("--clip-norm", type=float, help="global gradient-norm clip (default 5)")
    parser.add_argument("--sample-length", type=int, help="characters to generate (default 400)")
    parser.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (default 0.8)")
    parser.add_argument("--prompt", default="ROMEO:\n", help="text to start the sample with")
    args = parse_args(parser, argv)
    # As in the tutorial: train in single precision (theano.config.floatX = 'float32').
    tr.config.floatX = "float32"
    corpus = load_text(args.data)
    vocabulary = corpus.vocabulary
    ids = corpus.ids()[: args.train_size]
    train_ids, valid_ids = split_ids(ids, 0.1)
    print(
        f"data: {corpus.source}: {len(train_ids)} train and {len(valid_ids)} valid characters, "
        f"{len(vocabulary)} distinct"
    )
    # Validation needs whole batches too; shrink its batch if the held-out tail is short.
    valid_batch_size = max(1, min(args.batch_size, len(valid_ids) // (args.seq_len + 1)))
    rng = np.random.default_rng(args.seed)

    print("... building the model")
    x = T.imatrix("x")  # (seq, batch) input character ids
    y = T.imatrix("y")  # (seq, batch) next-character ids
    model = CharLSTM(np.random.RandomState(args.seed), len(vocabulary), args.n_embed, args.n_hidden)
    cost = model.cost(x, y)
    updates, grad_norm = adam_updates(cost, model.params, args.learning_rate, args.clip_norm)
    train_fn = tr.function([x, y], [cost, grad_norm], updates=updates)
    loss_fn = tr.function([x, y], cost)
    step_fn = compile_step_function(model)

    def validation_loss() -> float:
        batches = sequence_batches(valid_ids, args.seq_len, valid_batch_size, max_batches=args.valid_batches)
        return float(np.mean([loss_fn(vx, vy) for vx, vy in batches]))

    history: dict = {"batch_loss": [], "epoch_loss": [], "validation": [], "epoch_seconds": []}
    history["validation_label"] = "validation loss (nats/char)"
    n_per_epoch = (len(train_ids) // (args.seq_len + 1)) // args.batch_size
    if args.batches_per_epoch is not None:
        n_per_epoch = min(n_per_epoch, args.batches_per_epoch)
    print("... training")
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        losses = []
        bar = progress(n_per_epoch, f"lstm epoch {epoch}", not args.no_progress)
        for bx, by in sequence_batches(train_ids, args.seq_len, args.batch_size, rng=rng, max_batches=n_per_epoch):
            loss, _ = train_fn(bx, by)
            losses.append(float(loss))
            bar.update()
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}")
        bar.close()
        seconds = time.perf_counter() - start
        val = validation_loss()
        history["batch_loss"] += losses
        history["epoch_loss"].append(float(np.mean(losses)))
        history["epoch_seconds"].append(seconds)
        history["validation"].append({"epoch": epoch, "iteration": len(history["batch_loss"]), "error": val})
        print(
            f"lstm epoch {epoch}: train loss {np.mean(losses):.3f}, "
            f"validation loss {val:.3f} nats/char, {seconds:.1f} s"
        )

    sample = generate(step_fn, vocabulary, args.n_hidden, args.prompt, args.sample_length, args.temperature, rng)
    print(f"--- sample (temperature {args.temperature}) ---\n{sample}\n---")
    np.savez(
        args.out / "lstm_text_params.npz",
        chars=np.array(vocabulary.chars),
        **{p.name: p.get_value() for p in model.params},
    )
    history.update(
        model="lstm_text",
        dataset=corpus.source,
        data_note=corpus.note,
        epochs=args.epochs,
        validation_loss=history["validation"][-1]["error"],
        seconds_per_epoch=float(np.mean(history["epoch_seconds"])),
        sample=sample,
    )
    history["curve"] = str(plot_training_curve(args.out / "lstm_text_curve.png", history, "char-LSTM"))
    save_history(args.out, "lstm_text", history)
    return history


# %%
if __name__ == "__main__":
    main()
