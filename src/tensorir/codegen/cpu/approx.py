"""Vectorizable approximations of transcendental functions, emitted as ``arith``/``math`` ops.

``math.exp``, ``math.tanh`` and friends lower to scalar libm calls, which keep LLVM from
vectorizing a loop (a fused kernel became slower than NumPy). Every function here is built
from ``arith`` ops, ``math.fma`` and the ``math`` ops that LLVM lowers to vector
instructions (absf, sqrt, roundeven, copysign), so a loop around it becomes AVX2 code.

Methods are the classical ones (Cephes, fdlibm, SLEEF): a range reduction that is exact or
carries its rounding error (Cody-Waite splits of ln 2 and pi/2, the exponent/mantissa split
of ``log``), then a polynomial on a small interval, then a reconstruction. Polynomials are
Taylor series where those converge fast on the reduced range, and otherwise our own
least-squares fits on Chebyshev nodes in 60-digit arithmetic (mpmath), rounded to double.

Precision policy. The functions that neural networks use in hot loops (exp, exp2, expm1, log,
log2, log10, log1p, tanh, sigmoid, softplus, sinh, cosh) are computed natively in f32 for f32
inputs. The others compute f32 inputs in f64 and round once at the end (half the vector
width, but simpler and correctly rounded in practice). Special values follow NumPy/C99:
inf, -inf, nan, signed zeros, overflow to inf, gradual underflow to denormals.

Known limit: sin/cos/tan use a three-part Cody-Waite reduction by pi/2; they are accurate for
|x| < 2**20 * pi/2 (about 1.6e6) and lose accuracy
for larger arguments (sin/cos stay in [-1, 1]); a Payne-Hanek reduction would be needed.

Each ``emit_<name>(e, x, ftype)`` appends ops to the :class:`KernelEmitter` ``e`` and returns
the SSA name of the result; ``ftype`` is ``f32``, ``f64`` or a vector of either.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .mlir_text import (
    KernelEmitter,
    element_type,
    integer_type_like,
    mantissa_bits,
    with_element_type,
)

__all__ = ["APPROXIMATIONS", "BINARY_OPS"] + [
    f"emit_{name}"
    for name in (
        "exp exp2 expm1 log log2 log10 log1p tanh sigmoid softplus erf erfc sin cos tan "
        "arcsin arccos arctan arctan2 sinh cosh power sqrt absolute floor ceil rint trunc"
    ).split()
]

# -- constants (hi + lo splits computed in 60-digit arithmetic) ---------------------------
# fdlibm's split of ln 2: LN2_HI has 32 significant bits, so n * LN2_HI is exact for |n| < 2**21.
_LN2_HI = {"f64": 6.93147180369123816490e-01, "f32": 0.693359375}
_LN2_LO = {"f64": 1.90821492927058770002e-10, "f32": -2.12194440e-4}
_LOG2E = {"f64": (1.4426950408889634, 2.0355273740931033e-17),
          "f32": (1.4426950216293335, 1.925963033500011e-08)}
_LOG10E = {"f64": (0.4342944819032518, 1.098319650216765e-17),
           "f32": (0.4342944920063019, -1.0103049952192578e-08)}
_LOG10_2 = {"f64": (0.3010299956639812, -2.8037281277851704e-18),
            "f32": (0.3010300099849701, -1.432098883924482e-08)}
_PI_2 = (1.5707963267948966, 6.123233995736766e-17)
_PI = (3.141592653589793, 1.2246467991473532e-16)
# pi/2 = C1 + C2 + C3 with C1, C2 of 33 bits: n * C1 and n * C2 are exact for |n| < 2**20.
_PIO2_PARTS = (1.5707963267341256, 6.077100506303966e-11, 2.0222662487959506e-21)
_TWO_OVER_PI = 0.6366197723675814

# exp(r) = 1 + r + r^2 * P(r) on |r| <= ln2/2. f32: Cephes expf's minimax P (error < 1 ulp);
# f64: Taylor to r^13 (remainder r^14/14! < 4e-18).
_EXP_P = {
    "f32": [5.0000001201e-1, 1.6666665459e-1, 4.1665795894e-2, 8.3334519073e-3, 1.3981999507e-3,
            1.9875691500e-4],
    "f64": [1.0 / math.factorial(k) for k in range(2, 14)],
}
# expm1(r) = r + r^2 * Q(r), Taylor (to r^8 for f32, r^13 for f64).
_EXPM1_Q = {
    "f32": [1.0 / math.factorial(k) for k in range(2, 9)],
    "f64": [1.0 / math.factorial(k) for k in range(2, 14)],
}
# log(1+f) = 2 atanh(s), s = f/(2+f): R(z) = sum_k 2/(2k+1) z^k, z = s^2 <= 0.0295.
_LOG_R = {"f32": [2.0 / (2 * k + 1) for k in range(1, 6)], "f64": [2.0 / (2 * k + 1) for k in range(1, 12)]}
# sin(r) = r + r z S(z), cos(r) = 1 - z/2 + z^2 C(z), z = r^2, |r| <= pi/4 (Taylor, f64).
_SIN_S = [(-1) ** k / math.factorial(2 * k + 1) for k in range(1, 9)]
_COS_C = [(-1) ** k / math.factorial(2 * k) for k in range(2, 10)]
# atan(t) = t + t z P(z), |t| <= tan(pi/8): least-squares fit, relative error of P 7e-17.
_ATAN_P = [-0.3333333333333333, 0.19999999999999804, -0.14285714285659412, 0.11111111105117975,
           -0.09090908751763316, 0.07692296327996745, -0.06666424091547113, 0.058789203820967806,
           -0.05230394206727706, 0.04551333133935233, -0.03456419588045029, 0.01627902648057774]
# asin(x) = x + x z P(z), z = x^2 <= 1/4: fit, relative error of P 1.2e-16.
_ASIN_P = [0.16666666666666669, 0.0749999999999843, 0.04464285714636173, 0.030381944138046662,
           0.022372172961334005, 0.01735239227429941, 0.013971219544977282, 0.01147911390775028,
           0.010323222974141113, 0.005455772997012878, 0.01740553771621538, -0.0148590684677662,
           0.028762690011846594]
# erf(x) = x P(x^2) on |x| <= 1/2: fit, relative error 1.4e-17.
_ERF_P = [1.1283791670955126, -0.3761263890318375, 0.11283791670954862, -0.026866170644997286,
          0.0052239776219670615, -0.0008548326504979409, 0.00012055285813054691, -1.4922988016568257e-05,
          1.6370907585723324e-06, -1.461801333029437e-07]
# erfc(x) = exp(-x^2) R(x). R(x) as a polynomial in (x - 1.25) on [0.5, 2] and in (x - 3) on [2, 4]
# (fits, relative error < 5e-17); on [4, 27.5] R(x) = S(1/x^2) / x (fit, 9e-17).
_ERFC_A = [0.3678229164523611, -0.20882187596460983, 0.10679557149659881, -0.050218274395908,
           0.02201136425085641, -0.009081627632917668, 0.0035531099032453184, -0.0013257829299840717,
           0.0004739703101247565, -0.00016296000637347835, 5.4054060546655324e-05, -1.7344096142284647e-05,
           5.395658141558047e-06, -1.6306302665149128e-06, 4.796136704901692e-07, -1.3763418350142715e-07,
           3.848055212390801e-08, -1.0316574491008807e-08, 2.7837733361981346e-09, -8.920806491820144e-10,
           2.2033797116516606e-10]
_ERFC_B = [0.17900115118138996, -0.05437226000717287, 0.015884371159871336, -0.004479431018372593,
           0.0012230390523767926, -0.00032412554449647116, 8.355413962887528e-05, -2.0989464464088347e-05,
           5.146436561412181e-06, -1.2333677062514477e-06, 2.8926667695738086e-07, -6.646692434815676e-08,
           1.4977686973176256e-08, -3.3127491544957555e-09, 7.198476640507997e-10, -1.5395950391359473e-10,
           3.233761239482597e-11, -6.5413867341608774e-12, 1.341262085923167e-12, -3.355085126757533e-13,
           6.473061631141819e-14]
_ERFC_C = [0.5641895835477561, -0.2820947917735916, 0.4231421874920016, -1.0578554179873148,
           3.7024849405093314, -16.660154744055884, 91.55194354582322, -590.8674309327313,
           4271.474684892689, -31980.860418484972, 221020.20881205684, -1225621.836440427,
           4577234.663758167, -8328262.6850628145]


class _Builder:
    """Terse arithmetic on one float type ``t`` (scalar or vector) for the formulas below."""

    def __init__(self, e: KernelEmitter, ftype: str) -> None:
        self.e = e
        self.t = ftype
        self.it = integer_type_like(ftype)
        self.elem = element_type(ftype)
        self.mbits = mantissa_bits(ftype)
        self.bias = 127 if self.elem == "f32" else 1023
        self.max_exp = 128 if self.elem == "f32" else 1024

    # constants
    def c(self, value: float) -> str:
        return self.e.constant(value, self.t)

    def ci(self, value: int) -> str:
        return self.e.constant(value, self.it)

    # float arithmetic
    def add(self, a: str, b: str) -> str:
        return self.e.add(a, b, self.t)

    def sub(self, a: str, b: str) -> str:
        return self.e.sub(a, b, self.t)

    def mul(self, a: str, b: str) -> str:
        return self.e.mul(a, b, self.t)

    def div(self, a: str, b: str) -> str:
        return self.e.div(a, b, self.t)

    def fma(self, a: str, b: str, c: str) -> str:
        return self.e.fma(a, b, c, self.t)

    def neg(self, a: str) -> str:
        return self.e.neg(a, self.t)

    def abs(self, a: str) -> str:
        return self.e.abs(a, self.t)

    def sqrt(self, a: str) -> str:
        return self.e.unary_math("sqrt", a, self.t)

    def copysign(self, a: str, b: str) -> str:
        return self.e.copysign(a, b, self.t)

    def poly(self, x: str, coefficients: list[float]) -> str:
        return self.e.polynomial(x, coefficients, self.t)

    # predicates and selects
    def cmp(self, predicate: str, a: str, b: str) -> str:
        return self.e.cmpf(predicate, a, b, self.t)

    def sel(self, cond: str, a: str, b: str) -> str:
        return self.e.select(cond, a, b, self.t)

    def and_(self, a: str, b: str) -> str:
        return self.e.logical("andi", a, b, with_element_type(self.t, "i1"))

    def or_(self, a: str, b: str) -> str:
        return self.e.logical("ori", a, b, with_element_type(self.t, "i1"))

    def not_(self, a: str) -> str:
        return self.e.logical("xori", a, self.e.constant(True, with_element_type(self.t, "i1")),
                              with_element_type(self.t, "i1"))

    def clamp(self, x: str, lo: float, hi: float) -> str:
        """Clamp with compare+select: NaN stays NaN (minnum/maxnum would drop it)."""
        x = self.sel(self.cmp("ogt", x, self.c(hi)), self.c(hi), x)
        return self.sel(self.cmp("olt", x, self.c(lo)), self.c(lo), x)

    # integer views
    def bits(self, x: str) -> str:
        return self.e.bitcast(x, self.t, self.it)

    def from_bits(self, i: str) -> str:
        return self.e.bitcast(i, self.it, self.t)

    def iop(self, name: str, a: str, b: str) -> str:
        return self.e.int_op(name, a, b, self.it)

    def to_float(self, i: str) -> str:
        return self.e.cast("sitofp", i, self.it, self.t)

    def round_to_int(self, x: str) -> tuple[str, str]:
        """(round-half-even(x) as float, as integer) by adding 1.5 * 2**mbits.

        The integer comes from the low mantissa bits of ``x + shifter``, with no ``fptosi``
        (which is poison for nan/out-of-range lanes). Needs |x| < 2**(mbits-1).
        """
        shifter = 1.5 * 2.0**self.mbits
        t = self.add(x, self.c(shifter))
        n_float = self.sub(t, self.c(shifter))
        n_int = self.iop("subi", self.bits(t), self.bits(self.c(shifter)))
        return n_float, n_int

    def pow2(self, n: str) -> str:
        """2**n for an integer n in the normal exponent range."""
        biased = self.iop("addi", n, self.ci(self.bias))
        return self.from_bits(self.iop("shli", biased, self.ci(self.mbits)))

    def ldexp(self, y: str, n: str) -> str:
        """y * 2**n for n in [2 - 2*bias, 2*max_exp]: two normal factors, one final rounding,
        so results overflow to inf and underflow gradually through the denormals."""
        n1 = self.iop("shrsi", n, self.ci(1))
        n2 = self.iop("subi", n, n1)
        return self.mul(self.mul(y, self.pow2(n1)), self.pow2(n2))

    def zero_keeps_sign(self, x: str, y: str) -> str:
        """Return x where x == +-0 (odd functions: f(-0) = -0)."""
        return self.sel(self.cmp("oeq", x, self.c(0.0)), x, y)


def _via_f64(core: Callable[[_Builder, str], str]) -> Callable[[KernelEmitter, str, str], str]:
    """Run ``core`` in f64 and round to f32 once for f32 inputs."""

    def emit(e: KernelEmitter, x: str, ftype: str) -> str:
        if element_type(ftype) == "f64":
            return core(_Builder(e, ftype), x)
        wide = with_element_type(ftype, "f64")
        result = core(_Builder(e, wide), e.cast("extf", x, ftype, wide))
        return e.cast("truncf", result, wide, ftype)

    emit.__doc__ = core.__doc__
    return emit


# -- exponentials ------------------------------------------------------------------------
def _exp_reduce(b: _Builder, x: str, correction: str | None = None) -> tuple[str, str]:
    """x = n ln2 + r, |r| <= ln2/2 (Cody-Waite). Returns (n as integer, r)."""
    n_float, n_int = b.round_to_int(b.mul(x, b.c(_LOG2E[b.elem][0])))
    r = b.fma(n_float, b.c(-_LN2_HI[b.elem]), x)
    r = b.fma(n_float, b.c(-_LN2_LO[b.elem]), r)
    if correction is not None:
        r = b.add(r, correction)
    return n_int, r


def _exp_poly(b: _Builder, r: str) -> str:
    """exp(r) on |r| <= ln2/2 as 1 + (r + r^2 P(r))."""
    p = b.poly(r, _EXP_P[b.elem])
    return b.add(b.fma(b.mul(r, r), p, r), b.c(1.0))


def _exp_limits(b: _Builder) -> tuple[float, float]:
    # Clamp so that n stays in ldexp's range; past these bounds the result is inf or 0 anyway.
    return (-104.0, 89.0) if b.elem == "f32" else (-746.0, 710.0)


def _exp_core(b: _Builder, x: str, extra_exponent: int = 0, correction: str | None = None) -> str:
    lo, hi = _exp_limits(b)
    xc = b.clamp(x, lo, hi + 1.0 if extra_exponent else hi)
    n, r = _exp_reduce(b, xc, correction)
    if extra_exponent:
        n = b.iop("addi", n, b.ci(extra_exponent))
    return b.ldexp(_exp_poly(b, r), n)


# -- float32 exp, tanh and sigmoid -------------------------------------------------------
# These three run in the hot loops of neural networks, so their f32 versions are written for
# instruction count and for few distinct constants (AVX2 has 16 vector registers; a fused
# kernel holding more constants reloads them in every iteration): no special-value selects
# where the arithmetic already gives the NumPy answer, one rounding shifter that yields both n
# as a float and the bits of a power of two, FMAs throughout, one polynomial shared by all three.
# Together they take about half the instructions of the general methods used for f64.
#
# expm1(r) / r = Q(r) = 1 + q2 r + ... + q6 r^5 on |r| <= ln2/2 (+ rounding slack): our minimax
# fit of the relative error (Lawson's iteration on Chebyshev nodes), with the coefficients
# rounded to f32 one at a time, lowest degree first, refitting the others each time; relative
# error 1.4e-8. exp(r) = 1 + expm1(r) then errs by at most |r| * 1.4e-8 / e^r < 7e-9 before
# its one rounding, and tanh uses expm1(r) = r Q(r) itself.
_EXPM1_Q_F32 = [1.0, 0.4999999701976776, 0.1666654646396637, 0.04166743531823158,
                0.008366265334188938, 0.0013870674883946776]
# exp's scaling: 2**n = 2**(n + K) * 2**-K, with 2**(n + K) normal for every n >= -150 that can
# occur for x < 0 (K >= 25), so the final product rounds once into the denormals.
_EXP_SPLIT = 32
# Round-to-integer shifter 1.5 * 2**23 + 127 + K (f32 has 23 fraction bits): fma(x, log2e,
# shifter) rounds x log2e to an integer n held in the low fraction bits as n + 127 + K, so
# shifting the bits of the sum left by 23 leaves (n + 127 + K) << 23 (all higher bits fall off):
# the bits of 2**(n + K), with no float-to-int conversion (poison for nan/inf lanes in LLVM).
_SHIFTER_F32 = 1.5 * 2.0**23 + 127.0 + _EXP_SPLIT
# With an FMA, x - n LN2_HI is exact for every n here (the result is below 1/2 in magnitude and
# a multiple of 2**-25), so the high part is simply ln 2 rounded to f32 and the low part tiny.
_LN2_F32 = (0.6931471824645996, -1.904654299957768e-09)
_LOG2E_F32 = 1.4426950216293335


def _exp_reduce_f32(b: _Builder, x: str) -> tuple[str, str, str]:
    """(t, n, r): x = n ln2 + r, |r| <= ln2/2 (+ rounding), n as a float, t the shifted sum."""
    shifter = b.c(_SHIFTER_F32)
    t = b.fma(x, b.c(_LOG2E_F32), shifter)
    n = b.sub(t, shifter)
    return t, n, b.fma(n, b.c(-_LN2_F32[0]), x)


def _expm1_poly_f32(b: _Builder, r: str) -> str:
    """expm1(r) = r + r^2 P(r), P = q2 + q3 r + ... + q6 r^4, for the reduced r of exp and tanh.

    Estrin's scheme (pairs of coefficients combined with r^2) instead of Horner: the same
    number of operations but a dependency chain of 4 FMAs instead of 6, which made the fused
    tanh/sigmoid/exp kernel (W1) 10% faster: its long chains leave the out-of-order window
    little room to overlap iterations. The last FMA rounds once; the roundings of r^2 and of P
    weigh |r|/2 <= 0.18 relative to it.
    """
    q = _EXPM1_Q_F32
    r2 = b.mul(r, r)
    low = b.fma(b.c(q[2]), r, b.c(q[1]))
    high = b.fma(b.c(q[5]), r2, b.fma(b.c(q[4]), r, b.c(q[3])))
    return b.fma(r2, b.fma(high, r2, low), r)


def _exp_f32(b: _Builder, x: str, nonpositive: bool = False) -> str:
    """exp(x) for f32 (scalar or vector), within 1 ulp, with NumPy's special values.

    Cody-Waite: n = round(x / ln2), r = x - n ln2 in two FMAs, p(r) = 1 + expm1(r). Then
    exp(x) = (p(r) f) (2**n / f) with a power of two f: 2**-K for x < 0, 2 for x >= 0.
    p(r) f = fma(expm1(r), f, f) rounds like 1 + expm1(r) (the scaling by f is exact), and
    2**n / f is a normal number for every n that occurs (n >= -150 gives at least 2**-118 for
    x < 0; n <= 128 gives at most 2**127 for x >= 0), so the product is exact unless the true
    result is a denormal or overflows, and then it rounds the way the true value does: gradual
    underflow and inf. The clamp to [-104, 89] keeps n in that range (the results there are 0
    and inf already); a nan passes the clamp and propagates through p(r).
    ``nonpositive``: the caller guarantees x <= 0 or nan (sigmoid), so only the x < 0 branch is
    emitted. The sign test reads the sign bit, so LLVM also drops it when it can prove the sign
    (exp(-abs(y)) in a fused kernel).
    """
    xc = x
    if not nonpositive:
        # x > 89 written as -x < -89: the same instruction, but for x = -abs(y) LLVM sees
        # abs(y) < -89 and drops the clamp (it does not fold -abs(y) > 89).
        hi = b.c(89.0)
        xc = b.sel(b.cmp("olt", b.neg(x), b.c(-89.0)), hi, xc)
    lo = b.c(-104.0)
    xc = b.sel(b.cmp("olt", xc, lo), lo, xc)
    t, n, r = _exp_reduce_f32(b, xc)
    em = _expm1_poly_f32(b, b.fma(n, b.c(-_LN2_F32[1]), r))
    pow2 = b.iop("shli", b.bits(t), b.ci(b.mbits))  # bits of 2**(n + K)
    # p(r) 2**(n-m) = fma(expm1(r), 2**(n-m), 2**(n-m)): the factor is a power of two, so this
    # rounds exactly like 1 + expm1(r) would, and the product by 2**m is the only other rounding.
    if nonpositive:
        low = b.c(2.0**-_EXP_SPLIT)
        return b.mul(b.fma(em, low, low), b.from_bits(pow2))
    negative = b.e.cmpi("slt", b.bits(x), b.ci(0), b.it)
    shift = b.e.select(negative, b.ci(0), b.ci(-(_EXP_SPLIT + 1) << b.mbits), b.it)
    scale = b.from_bits(b.iop("addi", pow2, shift))
    factor = b.sel(negative, b.c(2.0**-_EXP_SPLIT), b.c(2.0))
    return b.mul(b.fma(em, factor, factor), scale)


def emit_exp(e: KernelEmitter, x: str, ftype: str) -> str:
    """exp(x): Cody-Waite reduction by ln 2, polynomial, scaling by 2**n in two steps."""
    b = _Builder(e, ftype)
    if b.elem == "f32":
        return _exp_f32(b, x)
    return _exp_core(b, x)


def emit_exp2(e: KernelEmitter, x: str, ftype: str) -> str:
    """2**x = 2**n * exp((x - n) ln 2); x - n is exact."""
    b = _Builder(e, ftype)
    xc = b.clamp(x, -152.0, 129.0) if b.elem == "f32" else b.clamp(x, -1077.0, 1025.0)
    n_float, n_int = b.round_to_int(xc)
    d = b.sub(xc, n_float)
    # r = d * ln2 with the rounding error of the product folded in by an FMA with ln2's low part.
    ln2_hi, ln2_lo = (0.6931471805599453, 2.3190468138462996e-17) if b.elem == "f64" else (
        0.6931471824645996, -1.9046542121259336e-09)
    r = b.fma(d, b.c(ln2_hi), b.mul(d, b.c(ln2_lo)))
    return b.ldexp(_exp_poly(b, r), n_int)


def _expm1_core(b: _Builder, x: str) -> str:
    # expm1(x) = 2**n (expm1(r) + 1) - 1 = fma(2**n, q, 2**n - 1), q = expm1(r).
    lo, hi = (-30.0, 89.0) if b.elem == "f32" else (-60.0, 710.0)
    xc = b.clamp(x, lo, hi)
    n, r = _exp_reduce(b, xc)
    q = b.fma(b.mul(r, r), b.poly(r, _EXPM1_Q[b.elem]), r)
    # n == max_exp: 2**n is not representable; use 2**(n-1) * (2q + 1) + 2**(n-1) - 1 instead.
    top = b.e.cmpi("eq", n, b.ci(b.max_exp), b.it)
    n = b.iop("subi", n, b.e.cast("extui", top, with_element_type(b.t, "i1"), b.it))
    q = b.sel(top, b.fma(q, b.c(2.0), b.c(1.0)), q)
    scale = b.pow2(n)
    y = b.fma(scale, q, b.sub(scale, b.c(1.0)))
    return b.zero_keeps_sign(x, y)


def emit_expm1(e: KernelEmitter, x: str, ftype: str) -> str:
    """exp(x) - 1 without cancellation near 0."""
    return _expm1_core(_Builder(e, ftype), x)


# -- logarithms --------------------------------------------------------------------------
def _log_parts(b: _Builder, x: str, correction: str | None = None) -> tuple[str, str, str]:
    """For finite x > 0: x = 2**k (1 + f), sqrt(1/2) <= 1 + f < sqrt(2). Returns (k, hi, lo)
    with log(1+f) = hi + lo to about 2**-60 relative (fdlibm's log with the f^2/2 split)."""
    tiny = b.cmp("olt", x, b.c(2.0 ** (1 - b.bias)))
    # Denormals: scale into the normal range first.
    shift = b.mbits + 2
    xs = b.sel(tiny, b.mul(x, b.c(2.0**shift)), x)
    k_adjust = b.e.select(tiny, b.ci(-shift), b.ci(0), b.it)
    one_bits = b.bias << b.mbits
    sqrt_half_bits = 0x3F3504F3 if b.elem == "f32" else 0x3FE6A09E667F3BCD
    ix = b.iop("addi", b.bits(xs), b.ci(one_bits - sqrt_half_bits))
    k = b.iop("subi", b.iop("shrsi", ix, b.ci(b.mbits)), b.ci(b.bias))
    k = b.iop("addi", k, k_adjust)
    m_bits = b.iop("addi", b.iop("andi", ix, b.ci((1 << b.mbits) - 1)), b.ci(sqrt_half_bits))
    f = b.sub(b.from_bits(m_bits), b.c(1.0))
    denominator = b.add(b.c(2.0), f)
    s = b.div(f, denominator)
    # s_lo = f/(2+f) - s: residual of the division and of the rounding of 2 + f (for pow).
    denominator_err = b.add(b.sub(b.c(2.0), denominator), f)
    residual = b.fma(b.neg(s), denominator_err, b.fma(b.neg(s), denominator, f))
    s_lo = b.div(residual, denominator)
    z = b.mul(s, s)
    big_r = b.mul(z, b.poly(z, _LOG_R[b.elem]))
    # log(1+f) = f - hfsq + s (hfsq + R), hfsq = f^2/2 (its rounding error kept by an FMA).
    half_f = b.mul(f, b.c(0.5))
    hfsq = b.mul(half_f, f)
    hfsq_err = b.fma(half_f, f, b.neg(hfsq))
    hi = b.sub(f, hfsq)
    lo = b.sub(b.sub(f, hi), hfsq)
    t, t_err = _two_sum(b, hfsq, big_r)
    lo = b.add(lo, b.fma(s, t, b.fma(s, t_err, b.fma(s_lo, t, b.neg(hfsq_err)))))
    if correction is not None:
        lo = b.add(lo, correction)
    return b.to_float(k), hi, lo


def _log_specials(b: _Builder, x: str, y: str) -> str:
    y = b.sel(b.cmp("oeq", x, b.c(math.inf)), b.c(math.inf), y)
    y = b.sel(b.cmp("oeq", x, b.c(0.0)), b.c(-math.inf), y)
    return b.sel(b.cmp("ult", x, b.c(0.0)), b.c(math.nan), y)  # x < 0 or nan


def _log_combine(b: _Builder, k: str, hi: str, lo: str, scale_k: tuple[float, float],
                 scale_f: tuple[float, float] | None) -> str:
    """k * A + (hi + lo) * B with A, B given as hi/lo pairs (B = None means 1)."""
    if scale_f is None:
        small = b.fma(k, b.c(scale_k[1]), lo)
        inner = b.add(hi, small)
    else:
        b_hi, b_lo = scale_f
        small = b.fma(k, b.c(scale_k[1]), b.fma(hi, b.c(b_lo), b.mul(lo, b.c(b_hi))))
        inner = b.fma(hi, b.c(b_hi), small)
    return b.fma(k, b.c(scale_k[0]), inner)


def emit_log(e: KernelEmitter, x: str, ftype: str) -> str:
    """Natural logarithm: exponent/mantissa split, log(1+f) = 2 atanh(f/(2+f))."""
    b = _Builder(e, ftype)
    k, hi, lo = _log_parts(b, x)
    y = _log_combine(b, k, hi, lo, (_LN2_HI[b.elem], _LN2_LO[b.elem]), None)
    return _log_specials(b, x, y)


def emit_log2(e: KernelEmitter, x: str, ftype: str) -> str:
    """log2(x) = k + log(1+f) log2(e); exact for powers of two."""
    b = _Builder(e, ftype)
    k, hi, lo = _log_parts(b, x)
    y = _log_combine(b, k, hi, lo, (1.0, 0.0), _LOG2E[b.elem])
    return _log_specials(b, x, y)


def emit_log10(e: KernelEmitter, x: str, ftype: str) -> str:
    """log10(x) = k log10(2) + log(1+f) log10(e)."""
    b = _Builder(e, ftype)
    k, hi, lo = _log_parts(b, x)
    y = _log_combine(b, k, hi, lo, _LOG10_2[b.elem], _LOG10E[b.elem])
    return _log_specials(b, x, y)


def _log1p_core(b: _Builder, x: str) -> str:
    # u = 1 + x rounds; log(1+x) = log(u) + (x - (u - 1)) / u to first order.
    u = b.add(b.c(1.0), x)
    correction = b.div(b.sub(x, b.sub(u, b.c(1.0))), u)
    k, hi, lo = _log_parts(b, u, correction)
    y = _log_combine(b, k, hi, lo, (_LN2_HI[b.elem], _LN2_LO[b.elem]), None)
    y = b.sel(b.cmp("oeq", x, b.c(math.inf)), b.c(math.inf), y)
    y = b.sel(b.cmp("oeq", x, b.c(-1.0)), b.c(-math.inf), y)
    y = b.sel(b.cmp("ult", x, b.c(-1.0)), b.c(math.nan), y)
    return b.zero_keeps_sign(x, y)


def emit_log1p(e: KernelEmitter, x: str, ftype: str) -> str:
    """log(1 + x), accurate near 0."""
    return _log1p_core(_Builder(e, ftype), x)


# -- hyperbolic and logistic -------------------------------------------------------------
def _tanh_f32(b: _Builder, x: str) -> str:
    """tanh for f32: sign(x) E / (E + 2), E = expm1(2a), a = min(|x|, 9.1); no select.

    2a = n ln2 + r with n = round(2a log2e) in [0, 26], then E = 2**n (1 + expm1(r)) - 1 =
    fma(2**n, expm1(r), 2**n - 1): E = expm1(r) for n = 0 (tiny and denormal x give x exactly)
    and no cancellation for n >= 1. One reduction constant suffices: its error n * 2e-9 moves E
    by n * 2e-9 (1 + 1/E) relatively, and tanh by a factor 2 / (E + 2) less. expm1(r) rounds
    once, then E + 2 and the quotient: 2.5 ulp at most measured (every 17th f32 bit pattern).
    At 9.1, 1 - tanh < 2**-25, so tanh rounds to 1 (also for inf); a nan passes the clamp and
    propagates. Same method as the f64 path (expm1-based, as in fdlibm's tanh), without its
    special-value selects.
    """
    sign_mask = b.ci(-(2**31))
    a = b.abs(x)
    cap = b.c(9.1)
    a = b.sel(b.cmp("ogt", a, cap), cap, a)
    t, n, r = _exp_reduce_f32(b, b.add(a, a))
    em_r = _expm1_poly_f32(b, r)
    # The shifter gives 2**(n + K); E / (E + 2) = E 2**K / (E 2**K + 2**(K+1)), all exact scalings.
    pow2 = b.from_bits(b.iop("shli", b.bits(t), b.ci(b.mbits)))
    em = b.fma(pow2, em_r, b.sub(pow2, b.c(2.0**_EXP_SPLIT)))
    magnitude = b.div(em, b.add(em, b.c(2.0 ** (_EXP_SPLIT + 1))))
    # magnitude >= 0 (or nan), so or-ing in the sign bit of x is copysign, one instruction less.
    return b.from_bits(b.iop("ori", b.bits(magnitude), b.iop("andi", b.bits(x), sign_mask)))


def emit_tanh(e: KernelEmitter, x: str, ftype: str) -> str:
    """tanh(x) = sign(x) E / (E + 2), E = expm1(2|x|); no cancellation anywhere."""
    b = _Builder(e, ftype)
    if b.elem == "f32":
        return _tanh_f32(b, x)
    # Past the cap tanh rounds to 1 (2 e^-2x < ulp(1)/4 at 20); the cap avoids inf/inf.
    a = b.clamp(b.abs(x), 0.0, 20.0)
    em = _expm1_core(b, b.mul(a, b.c(2.0)))
    return b.copysign(b.div(em, b.add(em, b.c(2.0))), x)


def emit_sigmoid(e: KernelEmitter, x: str, ftype: str) -> str:
    """1 / (1 + exp(-x)), as e / (1 + e) with e = exp(x) for x < 0 (keeps tiny results exact)."""
    b = _Builder(e, ftype)
    if b.elem == "f32":
        # One division: e / (1 + e) for x < 0, 1 / (1 + e) otherwise, e = exp(-|x|) in (0, 1]
        # within 1 ulp; with the roundings of 1 + e and of the quotient, 2.4 ulp at most measured.
        # No product e * s as in the f64 path: one rounding less, and no multiplier.
        ex = _exp_f32(b, b.neg(b.abs(x)), nonpositive=True)
        # Selecting on the sign bit (x = -0 gives 1 / 2 either way) is a single blend on AVX2.
        negative = b.e.cmpi("slt", b.bits(x), b.ci(0), b.it)
        numerator = b.sel(negative, ex, b.c(1.0))
        return b.div(numerator, b.add(b.c(1.0), ex))
    ex = _exp_core(b, b.neg(b.abs(x)))
    s = b.div(b.c(1.0), b.add(b.c(1.0), ex))
    return b.sel(b.cmp("oge", x, b.c(0.0)), s, b.mul(ex, s))


def emit_softplus(e: KernelEmitter, x: str, ftype: str) -> str:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)): never overflows, exact tails."""
    b = _Builder(e, ftype)
    tail = _log1p_core(b, _exp_core(b, b.neg(b.abs(x))))
    positive = b.sel(b.cmp("ogt", x, b.c(0.0)), x, b.c(0.0))
    return b.add(positive, tail)


def emit_sinh(e: KernelEmitter, x: str, ftype: str) -> str:
    """sinh: (E + E/(E+1))/2 with E = expm1(|x|) below 1, else h - 1/(4h), h = exp(|x|)/2."""
    b = _Builder(e, ftype)
    a = b.abs(x)
    em = _expm1_core(b, b.clamp(a, 0.0, 1.0))
    small = b.mul(b.c(0.5), b.add(em, b.div(em, b.add(em, b.c(1.0)))))
    h = _exp_core(b, a, extra_exponent=-1)  # exp(a)/2, without overflowing before sinh does
    large = b.sub(h, b.div(b.c(0.25), h))
    return b.copysign(b.sel(b.cmp("olt", a, b.c(1.0)), small, large), x)


def emit_cosh(e: KernelEmitter, x: str, ftype: str) -> str:
    """cosh(x) = h + 1/(4h), h = exp(|x|)/2."""
    b = _Builder(e, ftype)
    h = _exp_core(b, b.abs(x), extra_exponent=-1)
    return b.add(h, b.div(b.c(0.25), h))


# -- error function ----------------------------------------------------------------------
def _erfc_large(b: _Builder, a: str) -> str:
    """erfc(a) for 0.5 <= a (f64): exp(-a^2) R(a), with a^2 = h + l carried exactly."""
    a = b.clamp(a, 0.0, 28.0)  # erfc(28) underflows to 0; keeps inf out of a*a - h
    below2 = b.cmp("olt", a, b.c(2.0))
    v = b.sub(a, b.sel(below2, b.c(1.25), b.c(3.0)))
    # One Horner pass whose coefficients are chosen per lane (interval [0.5, 2] or [2, 4]).
    acc = b.sel(below2, b.c(_ERFC_A[-1]), b.c(_ERFC_B[-1]))
    for ca, cb in zip(reversed(_ERFC_A[:-1]), reversed(_ERFC_B[:-1])):
        acc = b.fma(acc, v, b.sel(below2, b.c(ca), b.c(cb)))
    inv = b.div(b.c(1.0), a)
    far = b.mul(inv, b.poly(b.mul(inv, inv), _ERFC_C))
    r = b.sel(b.cmp("olt", a, b.c(4.0)), acc, far)
    h = b.mul(a, a)
    low = b.fma(a, a, b.neg(h))
    ex = _exp_core(b, b.neg(h))
    ex = b.fma(ex, b.neg(low), ex)  # exp(-h - l) = exp(-h) (1 - l)
    return b.mul(ex, r)


def _erf_core(b: _Builder, x: str) -> str:
    """erf(x): x P(x^2) for |x| < 1/2, else sign(x) (1 - erfc(|x|))."""
    a = b.abs(x)
    small = b.mul(x, b.poly(b.mul(x, x), _ERF_P))
    large = b.copysign(b.sub(b.c(1.0), _erfc_large(b, a)), x)
    return b.sel(b.cmp("olt", a, b.c(0.5)), small, large)


def _erfc_core(b: _Builder, x: str) -> str:
    """erfc(x): 1 - erf(x) for |x| < 1/2, erfc(|x|) or 2 - erfc(|x|) beyond."""
    a = b.abs(x)
    small = b.sub(b.c(1.0), b.mul(x, b.poly(b.mul(x, x), _ERF_P)))
    tail = _erfc_large(b, a)
    large = b.sel(b.cmp("ogt", x, b.c(0.0)), tail, b.sub(b.c(2.0), tail))
    return b.sel(b.cmp("olt", a, b.c(0.5)), small, large)


emit_erf = _via_f64(_erf_core)
emit_erfc = _via_f64(_erfc_core)


# -- trigonometric -----------------------------------------------------------------------
def _trig_reduce(b: _Builder, x: str) -> tuple[str, str, str]:
    """x = n pi/2 + r, |r| <= pi/4 (f64). Returns (n as integer, r, r^2)."""
    n_float, n_int = b.round_to_int(b.mul(x, b.c(_TWO_OVER_PI)))
    # Past 2**50 the shifter trick no longer rounds; those arguments are beyond the accurate range.
    r = b.fma(n_float, b.c(-_PIO2_PARTS[0]), x)
    r = b.fma(n_float, b.c(-_PIO2_PARTS[1]), r)
    r = b.fma(n_float, b.c(-_PIO2_PARTS[2]), r)
    return n_int, r, b.mul(r, r)


def _sin_cos_kernels(b: _Builder, r: str, z: str) -> tuple[str, str]:
    sin_r = b.fma(b.mul(r, z), b.poly(z, _SIN_S), r)
    # cos r = w + ((1 - w) - z/2 + z^2 C): w = 1 - z/2 rounds, its error is added back.
    hz = b.mul(z, b.c(0.5))
    w = b.sub(b.c(1.0), hz)
    tail = b.fma(b.mul(z, z), b.poly(z, _COS_C), b.sub(b.sub(b.c(1.0), w), hz))
    return sin_r, b.add(w, tail)


def _quadrant_bit(b: _Builder, n: str, bit: int) -> str:
    return b.e.cmpi("ne", b.iop("andi", n, b.ci(bit)), b.ci(0), b.it)


def _sin_core(b: _Builder, x: str, quarter_turns: int = 0) -> str:
    n, r, z = _trig_reduce(b, x)
    if quarter_turns:
        n = b.iop("addi", n, b.ci(quarter_turns))  # cos x = sin(x + pi/2)
    sin_r, cos_r = _sin_cos_kernels(b, r, z)
    y = b.sel(_quadrant_bit(b, n, 1), cos_r, sin_r)
    y = b.sel(_quadrant_bit(b, n, 2), b.neg(y), y)
    # Keeps |result| <= 1 even for arguments past the accurate range.
    y = b.clamp(y, -1.0, 1.0)
    return y if quarter_turns else b.zero_keeps_sign(x, y)


def _cos_core(b: _Builder, x: str) -> str:
    return _sin_core(b, x, quarter_turns=1)


def _tan_core(b: _Builder, x: str) -> str:
    n, r, z = _trig_reduce(b, x)
    sin_r, cos_r = _sin_cos_kernels(b, r, z)
    odd = _quadrant_bit(b, n, 1)
    y = b.div(b.sel(odd, b.neg(cos_r), sin_r), b.sel(odd, sin_r, cos_r))
    return b.zero_keeps_sign(x, y)


emit_sin = _via_f64(_sin_core)
emit_cos = _via_f64(_cos_core)
emit_tan = _via_f64(_tan_core)


def _atan_positive(b: _Builder, a: str) -> str:
    """atan(a) for a >= 0 (or nan): reduce to |t| <= tan(pi/8) with the addition formulas."""
    big = b.cmp("ogt", a, b.c(2.414213562373095))  # tan(3pi/8): atan a = pi/2 - atan(1/a)
    mid = b.cmp("ogt", a, b.c(0.41421356237309503))  # tan(pi/8): atan a = pi/4 + atan((a-1)/(a+1))
    t = b.sel(big, b.div(b.c(-1.0), a), b.sel(mid, b.div(b.sub(a, b.c(1.0)), b.add(a, b.c(1.0))), a))
    base_hi = b.sel(big, b.c(_PI_2[0]), b.sel(mid, b.c(_PI_2[0] / 2), b.c(0.0)))
    base_lo = b.sel(big, b.c(_PI_2[1]), b.sel(mid, b.c(_PI_2[1] / 2), b.c(0.0)))
    z = b.mul(t, t)
    inner = b.fma(b.mul(t, z), b.poly(z, _ATAN_P), base_lo)
    return b.add(base_hi, b.add(t, inner))


def _atan_core(b: _Builder, x: str) -> str:
    return b.copysign(_atan_positive(b, b.abs(x)), x)


def _asin_parts(b: _Builder, x: str) -> tuple[str, str, str]:
    """(|x| <= 1/2, w, a): w = asin(|x|) if small else asin(sqrt((1-|x|)/2)), one polynomial."""
    a = b.abs(x)
    small = b.cmp("ole", a, b.c(0.5))
    z = b.sel(small, b.mul(a, a), b.mul(b.sub(b.c(1.0), a), b.c(0.5)))
    s = b.sel(small, a, b.sqrt(z))  # |x| > 1: sqrt of a negative gives nan
    w = b.fma(b.mul(s, z), b.poly(z, _ASIN_P), s)
    return small, w, a


def _asin_core(b: _Builder, x: str) -> str:
    # asin a = pi/2 - 2 asin(sqrt((1-a)/2)) for a > 1/2.
    small, w, _ = _asin_parts(b, x)
    large = b.sub(b.c(_PI_2[0]), b.fma(w, b.c(2.0), b.c(-_PI_2[1])))
    return b.zero_keeps_sign(x, b.copysign(b.sel(small, w, large), x))


def _acos_core(b: _Builder, x: str) -> str:
    # acos x = pi/2 - asin x (|x| <= 1/2); 2 asin(sqrt((1-x)/2)) (x > 1/2); pi - that (x < -1/2).
    small, w, _ = _asin_parts(b, x)
    mid = b.sub(b.c(_PI_2[0]), b.sub(b.copysign(w, x), b.c(_PI_2[1])))
    twice = b.mul(w, b.c(2.0))
    negative = b.sub(b.c(_PI[0]), b.sub(twice, b.c(_PI[1])))
    return b.sel(small, mid, b.sel(b.cmp("olt", x, b.c(0.0)), negative, twice))


emit_arctan = _via_f64(_atan_core)
emit_arcsin = _via_f64(_asin_core)
emit_arccos = _via_f64(_acos_core)


def _atan2_core(b: _Builder, y: str, x: str) -> str:
    ay, ax = b.abs(y), b.abs(x)
    inf = b.c(math.inf)
    both_inf = b.and_(b.cmp("oeq", ay, inf), b.cmp("oeq", ax, inf))
    ratio = b.div(ay, ax)
    ratio = b.sel(b.cmp("oeq", ay, b.c(0.0)), b.c(0.0), ratio)  # 0/0 -> 0
    ratio = b.sel(both_inf, b.c(1.0), ratio)  # inf/inf -> 1 (pi/4)
    angle = _atan_positive(b, ratio)
    # Left half-plane (including x = -0): pi - angle.
    x_negative = b.cmp("olt", b.copysign(b.c(1.0), x), b.c(0.0))
    mirrored = b.sub(b.c(_PI[0]), b.sub(angle, b.c(_PI[1])))
    result = b.copysign(b.sel(x_negative, mirrored, angle), y)
    return b.sel(b.cmp("uno", x, y), b.add(x, y), result)


def emit_arctan2(e: KernelEmitter, y: str, x: str, ftype: str) -> str:
    """atan2(y, x) with C99/NumPy special cases (signed zeros, infinities)."""
    if element_type(ftype) == "f64":
        return _atan2_core(_Builder(e, ftype), y, x)
    wide = with_element_type(ftype, "f64")
    result = _atan2_core(_Builder(e, wide), e.cast("extf", y, ftype, wide), e.cast("extf", x, ftype, wide))
    return e.cast("truncf", result, wide, ftype)


# -- power -------------------------------------------------------------------------------
def _is_integer(b: _Builder, v: str) -> str:
    return b.cmp("oeq", b.e.unary_math("roundeven", v, b.t), v)


def _two_sum(b: _Builder, x: str, y: str) -> tuple[str, str]:
    """Knuth's two-sum: x + y = s + err exactly, for any magnitudes."""
    s = b.add(x, y)
    y_virtual = b.sub(s, x)
    err = b.add(b.sub(x, b.sub(s, y_virtual)), b.sub(y, y_virtual))
    return s, err


def _power_core(b: _Builder, x: str, y: str) -> str:
    """x**y = exp(y log|x|) with log|x| in double-double, then C99 special cases."""
    ax = b.abs(x)
    k, hi, lo = _log_parts(b, ax)
    # log|x| = L_hi + L_lo, normalized (|L_lo| <= ulp(L_hi)/2) by exact two-sums, since
    # y L_lo must be a small correction of the exp argument.
    k_ln2 = b.mul(k, b.c(_LN2_HI[b.elem]))  # exact
    f_hi, f_lo = _two_sum(b, hi, lo)
    l_hi, l_err = _two_sum(b, k_ln2, f_hi)
    l_lo = b.add(l_err, b.add(f_lo, b.mul(k, b.c(_LN2_LO[b.elem]))))
    l_hi, l_lo = _two_sum(b, l_hi, l_lo)
    finite_nonzero = b.and_(b.cmp("one", ax, b.c(0.0)), b.cmp("one", ax, b.c(math.inf)))
    l_hi = b.sel(b.cmp("oeq", ax, b.c(0.0)), b.c(-math.inf), b.sel(b.cmp("oeq", ax, b.c(math.inf)),
                                                                     b.c(math.inf), l_hi))
    l_hi = b.sel(b.cmp("uno", ax, ax), ax, l_hi)  # nan base: nan (unless y == 0, handled below)
    l_lo = b.sel(finite_nonzero, l_lo, b.c(0.0))
    # y log|x| = z + z_err exactly enough: z_err = fma(y, L_hi, -z) + y L_lo.
    z = b.mul(y, l_hi)
    z_err = b.fma(y, l_lo, b.fma(y, l_hi, b.neg(z)))
    z_err = b.sel(b.cmp("olt", b.abs(z), b.c(2048.0)), z_err, b.c(0.0))  # inf/nan z: no correction
    magnitude = _exp_core(b, z, correction=z_err)

    y_int = _is_integer(b, y)
    y_odd = b.and_(y_int, b.not_(_is_integer(b, b.mul(y, b.c(0.5)))))
    x_sign = b.cmp("olt", b.copysign(b.c(1.0), x), b.c(0.0))
    result = b.sel(b.and_(x_sign, y_odd), b.neg(magnitude), magnitude)
    negative_finite = b.and_(b.cmp("olt", x, b.c(0.0)), b.cmp("ogt", x, b.c(-math.inf)))
    result = b.sel(b.and_(negative_finite, b.not_(y_int)), b.c(math.nan), result)
    one = b.c(1.0)
    unit_inf = b.and_(b.cmp("oeq", ax, one), b.cmp("oeq", b.abs(y), b.c(math.inf)))
    result = b.sel(unit_inf, one, result)
    result = b.sel(b.cmp("oeq", y, b.c(0.0)), one, result)
    return b.sel(b.cmp("oeq", x, one), one, result)


def emit_power(e: KernelEmitter, x: str, y: str, ftype: str) -> str:
    """x**y for floats with NumPy's semantics (negative base with integral exponent, 0**0 = 1,
    1**nan = 1, inf and nan cases). f32 is computed in f64 and rounded once."""
    if element_type(ftype) == "f64":
        return _power_core(_Builder(e, ftype), x, y)
    wide = with_element_type(ftype, "f64")
    result = _power_core(_Builder(e, wide), e.cast("extf", x, ftype, wide), e.cast("extf", y, ftype, wide))
    return e.cast("truncf", result, wide, ftype)


# -- ops LLVM vectorizes itself ----------------------------------------------------------
def _math_op(name: str) -> Callable[[KernelEmitter, str, str], str]:
    def emit(e: KernelEmitter, x: str, ftype: str) -> str:
        return e.unary_math(name, x, ftype)

    emit.__doc__ = f"``math.{name}`` (lowers to an LLVM intrinsic that vectorizes)."
    return emit


emit_sqrt = _math_op("sqrt")
emit_absolute = _math_op("absf")
emit_floor = _math_op("floor")
emit_ceil = _math_op("ceil")
emit_rint = _math_op("roundeven")  # NumPy rounds half to even
emit_trunc = _math_op("trunc")


def _binary_op(op: str) -> Callable[[KernelEmitter, str, str, str], str]:
    def emit(e: KernelEmitter, x: str, y: str, ftype: str) -> str:
        return e.op(op, [x, y], ftype)

    emit.__doc__ = f"``{op}``."
    return emit


#: NumPy op name -> emitter. Unary emitters take (e, x, ftype); those in BINARY_OPS (e, x, y, ftype).
APPROXIMATIONS: dict[str, Callable[..., str]] = {
    "exp": emit_exp,
    "exp2": emit_exp2,
    "expm1": emit_expm1,
    "log": emit_log,
    "log2": emit_log2,
    "log10": emit_log10,
    "log1p": emit_log1p,
    "tanh": emit_tanh,
    "sigmoid": emit_sigmoid,
    "softplus": emit_softplus,
    "erf": emit_erf,
    "erfc": emit_erfc,
    "sin": emit_sin,
    "cos": emit_cos,
    "tan": emit_tan,
    "arcsin": emit_arcsin,
    "arccos": emit_arccos,
    "arctan": emit_arctan,
    "arctan2": emit_arctan2,
    "sinh": emit_sinh,
    "cosh": emit_cosh,
    "power": emit_power,
    "sqrt": emit_sqrt,
    "absolute": emit_absolute,
    "floor": emit_floor,
    "ceil": emit_ceil,
    "rint": emit_rint,
    "trunc": emit_trunc,
    "copysign": _binary_op("math.copysign"),
    "maximum": _binary_op("arith.maximumf"),  # propagates nan, like numpy.maximum
    "minimum": _binary_op("arith.minimumf"),
    "fmax": _binary_op("arith.maxnumf"),  # ignores nan, like numpy.fmax
    "fmin": _binary_op("arith.minnumf"),
}

#: Names in APPROXIMATIONS whose emitter takes two operands.
BINARY_OPS = frozenset({"arctan2", "power", "copysign", "maximum", "minimum", "fmax", "fmin"})
