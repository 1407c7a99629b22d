"""End-to-end experiments of Ba et al. (2022): one step, spectrum, and CK / NTK / trained-CK risk.

Sample splitting as in the paper: the gradient step uses a batch of n samples, the ridge fit
a fresh batch of n, and the test risk (against the noise-free f*) a third, fresh test set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .._utils import (
    DivergenceError,
    as_generator,
    check_choice,
    check_int,
    check_memory,
    check_real,
)
from .model import init_params, negative_gradient, rank_one_error, sample_teacher
from .ridge import BLOCK, FITS, _fitted_risk, _risk
from .spectrum import singular_values, spike_overlap, top_left_singular_vector
from .theory import (
    bulk_edge,
    get_activation,
    nonlinear_energy,
    overlap_prediction,
    spike_prediction,
    spike_theta,
)

__all__ = ["FEATURES", "experiment", "experiments", "rank_one_curve", "risk_curves", "risk_vs_alpha"]

#: Feature maps: CK at W0, NTK at W0 (kernel form), CK at W1 after the step.
FEATURES = ("ck", "ntk", "ck1")
#: Smallest exponent alpha of eta = N^alpha: negative alpha is the eta = o(1) regime; at
#: alpha = -50 the step is below float64 resolution (the trained CK is the initial CK).
ALPHA_MIN = -50.0


def check_alpha(alpha) -> float:
    """The exponent alpha of eta = N^alpha, a finite number in [ALPHA_MIN, 1]."""
    value = check_real("alpha", alpha)  # type and finiteness
    if not ALPHA_MIN <= value <= 1.0:
        raise ValueError(
            f"alpha={value:g} is invalid: must be a finite number in [{ALPHA_MIN:g}, 1] (eta = N^alpha: "
            "[0, 1] is the paper's range, alpha < 0 the eta = o(1) regime)"
        )
    return value


def _check_features(features) -> tuple[str, ...]:
    if isinstance(features, str):
        features = (features,)
    return tuple(check_choice("features", f, FEATURES) for f in features)


def experiment_memory(n: int, d: int, N: int, *, n_test: int = 2048, features=FEATURES,
                      dtype: torch.dtype = torch.float32) -> int:
    """Estimated peak bytes of :func:`experiments`: the three samples, W0/G0/W1, one chunk of
    features per product, the ridge systems (N x N for the CK in primal form, else the
    lower triangle of an n x n kernel, about n (n + 512) / 2 entries)."""
    elt = torch.tensor([], dtype=dtype).element_size()
    words = (2 * n + n_test) * d + 3 * d * N + 2 * (1 << 20)
    lower = n * (n + BLOCK) // 2  # an n x n kernel's lower block rows
    if "ck" in features or "ck1" in features:
        words += N * N if n >= N else lower
    if "ntk" in features:
        words += max(lower, N * d)
    return int(words * elt)


def experiments(
    n: int,
    d: int,
    N: int,
    *,
    alphas: Sequence[float],
    lam: float = 1e-3,
    noise: float = 0.1,
    activation: str = "erf",
    target: str = "erf",
    features: Sequence[str] = FEATURES,
    generator: torch.Generator | int | None = None,
    n_test: int = 2048,
    dtype: torch.dtype = torch.float32,
    device=None,
    spectrum: bool = True,
    rank_one: bool = True,
) -> list[dict]:
    """:func:`experiment` for several step sizes eta = N^alpha on one shared draw.

    W0, a, beta*, the three samples and the gradient G0 do not depend on alpha, so they are
    drawn and computed once; ``experiments(..., alphas=[a])[0]`` equals
    ``experiment(..., alpha=a)`` for the same generator state.
    """
    n = check_int("n", n, low=1)
    d = check_int("d", d, low=1)
    N = check_int("N", N, low=1)
    n_test = check_int("n_test", n_test, low=1)
    alphas = [check_alpha(al) for al in alphas]
    lam = check_real("lam", lam, low=0.0)
    noise = check_real("noise", noise, low=0.0)
    act = get_activation(activation, "activation")
    get_activation(target, "target")
    features = _check_features(features)
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype={dtype} is invalid: must be torch.float32 or torch.float64")
    generator = as_generator(generator)
    check_memory(experiment_memory(n, d, N, n_test=n_test, features=features, dtype=dtype),
                 what=f"the one-step experiment at n={n}, d={d}, N={N}", reduce="n, d or N (or drop 'ntk')",
                 device=device)

    W0, a, beta = init_params(d, N, generator=generator, dtype=dtype, device=device)
    X, y, _ = sample_teacher(n, beta, target=target, noise=noise, generator=generator)
    X2, y2, _ = sample_teacher(n, beta, target=target, noise=noise, generator=generator)

    G0 = negative_gradient(X, y, W0, a, activation=activation)
    if not bool(torch.isfinite(G0).all()):
        raise DivergenceError(
            "the gradient G0 became NaN/Inf at step 1; use dtype=torch.float64 or smaller sizes"
        )
    r1 = rank_one_error(G0, X, y, a, activation=activation) if rank_one else float("nan")
    del X, y

    # The fits at W0 come before the test set is drawn, so that the NTK's (n, n) kernel is never
    # held next to it; nothing is drawn in between, so the test set is the same draw.
    fits = {f: FITS[f][0](X2, y2, W0, lam, act) for f in ("ntk", "ck") if f in features}
    X3, _, f3 = sample_teacher(n_test, beta, target=target, noise=0.0, generator=generator)
    shared = {f: _risk(FITS[f][1](X3, W0, fit, act), f3) for f, fit in fits.items()}
    del fits

    psi1, psi2 = n / d, N / d
    a_norm = float(a.norm())
    theory = {"activation": activation, "target": target, "noise": noise}
    floor = nonlinear_energy(target)
    out = []
    for i, alpha in enumerate(alphas):
        eta = float(N) ** alpha
        # W1 = W0 + eta sqrt(N) G0 (the arithmetic of one_step); the last W1 is written over G0
        W1 = G0.mul_(eta * math.sqrt(N)) if i == len(alphas) - 1 else G0 * (eta * math.sqrt(N))
        W1.add_(W0)
        if not bool(torch.isfinite(W1).all()):
            raise DivergenceError(
                f"W1 became NaN/Inf at step 1 with alpha={alpha:g}; reduce alpha (eta = N^alpha)"
            )
        risk = dict(shared)
        if "ck1" in features:
            risk["ck1"] = _fitted_risk("ck", X2, y2, X3, f3, W1, lam, act)
        res = {
            "risk": {f: risk[f] for f in features},
            "alpha": alpha,
            "eta": eta,
            "n": n,
            "d": d,
            "N": N,
            "psi1": psi1,
            "psi2": psi2,
            "a_norm": a_norm,
            "rank_one_error": r1,
            "floor": floor,
            "bulk_edge": bulk_edge(psi2),
            "theta": spike_theta(eta=eta, psi1=psi1, a_norm=a_norm, **theory),
            "spike_prediction": spike_prediction(
                eta=eta, psi1=psi1, psi2=psi2, a_norm=a_norm, **theory
            ),
            "overlap_prediction": overlap_prediction(
                eta=eta, psi1=psi1, psi2=psi2, a_norm=a_norm, **theory
            ),
        }
        if spectrum:
            res["singular_values"] = singular_values(W1).cpu()
            u1, _ = top_left_singular_vector(W1, generator=generator)
            res["overlap"] = spike_overlap(u1, beta)
        out.append(res)
    return out


def experiment(
    n: int,
    d: int,
    N: int,
    *,
    alpha: float,
    lam: float = 1e-3,
    noise: float = 0.1,
    activation: str = "erf",
    target: str = "erf",
    features: Sequence[str] = FEATURES,
    generator: torch.Generator | int | None = None,
    n_test: int = 2048,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> dict:
    """One experiment of Ba et al. (2022): a step of size eta = N^alpha, then ridge on features.

    Draws W0 (d, N), a (N,), beta*, a step batch (n), a ridge batch (n) and a test set
    (``n_test``), takes W1 = W0 + eta sqrt(N) G0 and fits ridge (penalty lam/N) on the feature
    maps in ``features`` (any of "ck", "ntk", "ck1"). Returns a dict with

    - ``"risk"``: feature name -> test risk E[(f_hat - f*)^2] (noise-free f*),
    - ``"singular_values"``: all singular values of W1, descending (cpu tensor),
    - ``"overlap"``: |<u1, beta*>| for the top left singular vector u1 of W1,
    - ``"rank_one_error"``: ||G0 - A|| / ||G0|| (operator norms),
    - theory next to it: ``"spike_prediction"``, ``"overlap_prediction"``, ``"bulk_edge"``,
      ``"theta"``, ``"floor"`` (= ||P_{>1} f*||^2), and the sizes.

    ``dtype`` float32 (default) or float64; ``device`` where the tensors live.
    """
    return experiments(
        n,
        d,
        N,
        alphas=[alpha],
        lam=lam,
        noise=noise,
        activation=activation,
        target=target,
        features=features,
        generator=generator,
        n_test=n_test,
        dtype=dtype,
        device=device,
    )[0]


def risk_curves(
    psi1_values: Sequence[float],
    alphas: Sequence[float],
    *,
    d: int,
    psi2: float = 2.0,
    lam: float = 1e-3,
    noise: float = 0.1,
    activation: str = "erf",
    target: str = "erf",
    features: Sequence[str] = FEATURES,
    seed: int = 0,
    n_test: int = 2048,
    dtype: torch.dtype = torch.float32,
    device=None,
    spectrum: bool = False,
    callback: Callable[[dict], None] | None = None,
    progress: bool = False,
) -> dict:
    """The paper's figure: test risk against psi1 = n/d for several alpha (one seed).

    For each psi1 one draw is shared by all alphas (and CK/NTK, which do not depend on alpha,
    are fitted once). Returns numpy arrays: ``"psi1"``, ``"alphas"``, ``"ck"`` and ``"ntk"``
    (len(psi1),), ``"ck1"`` and, with ``spectrum=True``, ``"top_singular"`` (len(alphas),
    len(psi1)), and ``"floor"``.
    ``callback(dict)`` is called after each psi1 with the partial results.
    """
    d = check_int("d", d, low=1)
    psi2 = check_real("psi2", psi2, low=0.0, low_open=True)
    psi1_values = [check_real("psi1", p, low=0.0, low_open=True) for p in psi1_values]
    alphas = [check_alpha(al) for al in alphas]
    features = _check_features(features)
    N = max(1, round(psi2 * d))
    gen = as_generator(seed)
    out = {
        "psi1": np.asarray(psi1_values, dtype=float),
        "alphas": np.asarray(alphas, dtype=float),
        "floor": nonlinear_energy(target),
        "d": d,
        "N": N,
    }
    if spectrum:
        out["top_singular"] = np.full((len(alphas), len(psi1_values)), np.nan)
    for f in features:
        shape = (len(alphas), len(psi1_values)) if f == "ck1" else (len(psi1_values),)
        out[f] = np.full(shape, np.nan)
    iterator = range(len(psi1_values))
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc="psi1")
    for j in iterator:
        n = max(1, round(psi1_values[j] * d))
        res = experiments(
            n, d, N, alphas=alphas, lam=lam, noise=noise, activation=activation, target=target,
            features=features, generator=gen, n_test=n_test, dtype=dtype, device=device,
            spectrum=spectrum, rank_one=False,
        )  # fmt: skip
        for i, r in enumerate(res):
            if spectrum:
                out["top_singular"][i, j] = float(r["singular_values"][0])
            if "ck1" in features:
                out["ck1"][i, j] = r["risk"]["ck1"]
        for f in ("ck", "ntk"):
            if f in features:
                out[f][j] = res[0]["risk"][f]
        if callback is not None:
            callback({"index": j, "psi1": psi1_values[j], **out})
    return out


def rank_one_curve(
    ns: Sequence[int],
    *,
    psi1: float = 2.0,
    psi2: float = 2.0,
    seeds: int = 2,
    noise: float = 0.1,
    activation: str = "erf",
    target: str = "erf",
    dtype: torch.dtype = torch.float32,
) -> dict:
    """||G0 - A|| / ||G0|| against n in the proportional regime d = n/psi1, N = psi2 d.

    Returns numpy arrays ``"n"``, ``"mean"``, ``"std"`` (over ``seeds`` draws, seeds 0..seeds-1)
    and the fitted log-log ``"slope"`` (about -1/2: the log^2(n)/sqrt(n) bound of Prop. 2).
    """
    ns = [check_int("n", n, low=2) for n in ns]
    seeds = check_int("seeds", seeds, low=1)
    psi1 = check_real("psi1", psi1, low=0.0, low_open=True)
    psi2 = check_real("psi2", psi2, low=0.0, low_open=True)
    errs = np.zeros((len(ns), seeds))
    for i, n in enumerate(ns):
        d = max(1, round(n / psi1))
        N = max(1, round(psi2 * d))
        for s in range(seeds):
            gen = as_generator(s)
            W0, a, beta = init_params(d, N, generator=gen, dtype=dtype)
            X, y, _ = sample_teacher(n, beta, target=target, noise=noise, generator=gen)
            G0 = negative_gradient(X, y, W0, a, activation=activation)
            errs[i, s] = rank_one_error(G0, X, y, a, activation=activation)
    mean = errs.mean(axis=1)
    slope = float(np.polyfit(np.log(ns), np.log(mean), 1)[0]) if len(ns) > 1 else float("nan")
    return {"n": np.asarray(ns), "mean": mean, "std": errs.std(axis=1), "slope": slope, "errors": errs}


def risk_vs_alpha(
    alphas: Sequence[float],
    *,
    psi1: float,
    d: int,
    psi2: float = 2.0,
    seeds: Sequence[int] = (0, 1, 2),
    lam: float = 1e-3,
    noise: float = 0.1,
    activation: str = "erf",
    target: str = "erf",
    n_test: int = 2048,
    dtype: torch.dtype = torch.float32,
    device=None,
    callback: Callable[[dict], None] | None = None,
) -> dict:
    """Trained-CK risk against alpha (eta = N^alpha) at one psi1, next to the initial CK, over seeds.

    The three regimes of Ba et al. (2022): alpha < 0 (eta = o(1)) stays at the initial-CK risk,
    alpha = 0 (eta = Theta(1)) improves on it, alpha = 1/2 (eta = Theta(sqrt N)) goes below the
    floor ||P_{>1} f*||^2. Each seed is one :func:`experiments` draw shared by all alphas.
    Returns numpy arrays ``"alphas"``, ``"ck1"`` (len(seeds), len(alphas)), ``"ck"``
    (len(seeds),), their means ``"ck1_mean"``, ``"ck_mean"`` and standard errors over seeds
    ``"ck1_se"``, ``"ck_se"`` (NaN for one seed), the per-seed ratio ``"ratio"`` = ck1 / ck with
    ``"ratio_mean"``, ``"ratio_se"``, and ``"floor"``, ``"psi1"``, ``"d"``, ``"N"``, ``"n"``.
    ``dtype``/``device`` as in :func:`experiments`.
    """
    psi1 = check_real("psi1", psi1, low=0.0, low_open=True)
    psi2 = check_real("psi2", psi2, low=0.0, low_open=True)
    d = check_int("d", d, low=1)
    seeds = [check_int("seed", s, low=0) for s in seeds]
    if not seeds:
        raise ValueError("seeds=[] is invalid: must hold at least one seed")
    alphas = [check_alpha(al) for al in alphas]
    n, N = max(1, round(psi1 * d)), max(1, round(psi2 * d))
    ck1 = np.full((len(seeds), len(alphas)), np.nan)
    ck = np.full(len(seeds), np.nan)
    for s, seed in enumerate(seeds):
        res = experiments(n, d, N, alphas=alphas, lam=lam, noise=noise, activation=activation,
                          target=target, features=("ck", "ck1"), generator=seed, n_test=n_test,
                          dtype=dtype, device=device, spectrum=False, rank_one=False)  # fmt: skip
        ck1[s] = [r["risk"]["ck1"] for r in res]
        ck[s] = res[0]["risk"]["ck"]
        if callback is not None:  # "result": the summary over the seeds so far (a live panel draws it)
            callback({"index": s, "seed": seed, "ck1": ck1[: s + 1], "ck": ck[: s + 1],
                      "result": _alpha_summary(alphas, ck1[: s + 1], ck[: s + 1], target=target,
                                               activation=activation, psi1=psi1, d=d, N=N, n=n)})
    return _alpha_summary(alphas, ck1, ck, target=target, activation=activation, psi1=psi1, d=d, N=N, n=n)


def _alpha_summary(alphas, ck1, ck, *, target, activation, psi1, d, N, n) -> dict:
    """:func:`risk_vs_alpha`'s result from its per-seed risks ``ck1`` (S, len(alphas)), ``ck`` (S,)."""
    ratio = ck1 / ck[:, None]
    S = len(ck)

    def se(x, axis=0):
        return np.std(x, axis=axis, ddof=1) / math.sqrt(S) if S > 1 else np.full(np.shape(x.mean(axis)), np.nan)

    return {"alphas": np.asarray(alphas, dtype=float), "ck1": ck1, "ck": ck,
            "ck1_mean": ck1.mean(0), "ck1_se": se(ck1), "ck_mean": float(ck.mean()),
            "ck_se": float(se(ck)), "ratio": ratio, "ratio_mean": ratio.mean(0), "ratio_se": se(ratio),
            "floor": nonlinear_energy(target), "psi1": psi1, "d": d, "N": N, "n": n,
            "target": target, "activation": activation, "seeds_done": S}  # fmt: skip
