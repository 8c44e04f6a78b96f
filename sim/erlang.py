"""Erlang C and Erlang A: the queueing formulas planners size call centers with.

A center with ``n`` agents, calls arriving at random (Poisson, ``rate`` per
hour) and exponential handle times (mean ``aht_s``) is the M/M/n queue of
Erlang C. Real callers hang up when they wait too long; with exponential
patience (mean ``patience_s``) the queue is M/M/n+M, Erlang A (Palm's model).

Definitions, matching the what-if engine's report (``sim.engine``):

* ``p_wait``: share of callers who find every agent busy and must wait;
* ``service_level``: share of *all* callers answered within ``threshold_s``
  (callers who abandon count as not answered);
* ``asa_s``: average speed of answer, the mean wait of answered callers
  (zero waits included);
* ``abandon_rate``: share of callers who hang up before an agent answers;
* ``occupancy``: share of agent time spent on calls.

Erlang C uses the closed forms (``SL = 1 - C e^{-(nμ-λ)T}``) with Erlang B
computed by its stable recursion. Erlang A solves the birth-death chain of the
number of callers in the system (birth ``λ``, death ``kμ`` up to ``n`` and
``nμ + (k-n)θ`` above, ``θ = 1/patience``) exactly, truncated where the tail is
below double precision. A caller arriving with ``j`` callers queued ahead
enters service after ``j+1`` exponential stages of rates ``nμ + mθ``
(m = j..0) while their own patience runs at rate ``θ``; the service level sums
the chance of clearing those stages within ``T`` by uniformization, which adds
only positive terms and so stays accurate for hundreds of agents.

Erlang A is total on its domain (any threshold >= 0, any patience > 0): a
threshold too short for any stage to end is zero, one far past every wait is
"served at all", and callers who hang up the instant they must wait make
Erlang B's loss system.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Truncate the queue-length distribution where its terms drop below this share.
_TAIL = 1e-18
# Never truncate above this many queued callers (a patience of hours at a huge overload).
_MAX_QUEUE = 2_000_000
# Abandonment this many times faster than service and arrivals together: nobody who
# queues is ever served, to double precision, and the queue is Erlang B's loss system
# (a patience of a few picoseconds would otherwise make 1/patience overflow).
_INSTANT_ABANDON = 1e250
# A threshold this many mean stages past a caller's whole wait: the chance of a
# wait still running then is below e^-600 (a Chernoff bound on the Gamma tail),
# so "served within the threshold" is "served at all".
_WAIT_TAIL = 800.0
# The queue-length weights are rescaled by this factor when they grow past it.
_RESCALE = 1e250


@dataclass(frozen=True)
class ErlangResult:
    """The steady state of one queue, as defined in the module docstring."""

    agents: int
    offered_load_erl: float
    threshold_s: float
    p_wait: float
    service_level: float
    asa_s: float
    abandon_rate: float
    occupancy: float
    patience_s: float | None = None

    @property
    def stable(self) -> bool:
        """False for Erlang C at or above full load: the queue grows without bound."""
        return math.isfinite(self.asa_s)


def offered_load(rate_per_h: float, aht_s: float) -> float:
    """The offered load in Erlangs: calls per hour times hours per call."""
    return rate_per_h * aht_s / 3600.0


def erlang_b(agents: int, load: float) -> float:
    """Blocking probability of ``agents`` lines offered ``load`` Erlangs (stable recursion)."""
    _check(agents, load)
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return b


def erlang_c(
    rate_per_h: float, aht_s: float, agents: int, threshold_s: float = 30.0
) -> ErlangResult:
    """Erlang C: M/M/n without abandonment.

    At or above full load (``load >= agents``) every caller waits and the wait
    is unbounded: ``p_wait`` 1, ``service_level`` 0, ``asa_s`` infinite.
    """
    _check_rates(rate_per_h, aht_s, threshold_s)
    load = offered_load(rate_per_h, aht_s)
    _check(agents, load)
    if load == 0.0:
        return ErlangResult(agents, 0.0, threshold_s, 0.0, 1.0, 0.0, 0.0, 0.0)
    if agents == 0 or load >= agents:
        occupancy = 1.0 if agents else 0.0
        return ErlangResult(agents, load, threshold_s, 1.0, 0.0, math.inf, 0.0, occupancy)
    b = erlang_b(agents, load)
    c = agents * b / (agents - load * (1.0 - b))
    decay = (agents - load) / aht_s  # nμ - λ, per second
    service_level = 1.0 - c * math.exp(-decay * threshold_s)
    return ErlangResult(
        agents=agents,
        offered_load_erl=load,
        threshold_s=threshold_s,
        p_wait=c,
        service_level=service_level,
        asa_s=c / decay,
        abandon_rate=0.0,
        occupancy=load / agents,
    )


def erlang_a(
    rate_per_h: float,
    aht_s: float,
    agents: int,
    patience_s: float,
    threshold_s: float = 30.0,
) -> ErlangResult:
    """Erlang A: M/M/n+M, callers abandon after an exponential patience of mean ``patience_s``.

    Stable at any load, since impatient callers keep the queue finite.
    """
    _check_rates(rate_per_h, aht_s, threshold_s)
    if not patience_s > 0 or not math.isfinite(patience_s):
        raise ValueError(f"patience must be a positive number of seconds, got {patience_s}")
    load = offered_load(rate_per_h, aht_s)
    _check(agents, load)
    if load == 0.0:
        return ErlangResult(agents, 0.0, threshold_s, 0.0, 1.0, 0.0, 0.0, 0.0, patience_s)
    lam = rate_per_h / 3600.0
    mu = 1.0 / aht_s
    if agents == 0:
        # Nobody to answer: every caller waits until they give up.
        return ErlangResult(0, load, threshold_s, 1.0, 0.0, math.inf, 1.0, 0.0, patience_s)
    if _abandons_at_once(agents, lam, mu, patience_s):
        return _loss_system(agents, load, threshold_s, patience_s)
    theta = 1.0 / patience_s
    queue = _queue_distribution(agents, load, lam, mu, theta)
    if queue is None:
        # Erlang B below 1e-250: nobody ever waits.
        return ErlangResult(
            agents, load, threshold_s, 0.0, 1.0, 0.0, 0.0, load / agents, patience_s
        )
    p_wait = min(float(queue.sum()), 1.0)
    j = np.arange(len(queue), dtype=float)
    rates = agents * mu + j * theta  # r_m: how fast the callers ahead of a tagged one clear
    keep = rates / (rates + theta)  # the tagged caller survives stage m
    served_given = np.cumprod(keep)  # P(served | j ahead)
    stage_time = np.cumsum(1.0 / (rates + theta))  # E[wait | served, j ahead]
    served = (1.0 - p_wait) + float((queue * served_given).sum())
    wait_served = float((queue * served_given * stage_time).sum())
    within = (1.0 - p_wait) + float((queue * _within_given_ahead(rates, theta, threshold_s)).sum())
    return ErlangResult(
        agents=agents,
        offered_load_erl=load,
        threshold_s=threshold_s,
        p_wait=p_wait,
        service_level=min(max(within, 0.0), 1.0),
        asa_s=wait_served / served if served > 0 else math.inf,
        abandon_rate=min(max(1.0 - served, 0.0), 1.0),
        # Agents are busy with the calls that are served (at most all the time:
        # the sums above may round a hair past it).
        occupancy=min(load * served / agents, 1.0),
        patience_s=patience_s,
    )


def _abandons_at_once(agents: int, lam: float, mu: float, patience_s: float) -> bool:
    """Whether callers abandon so much faster than anything else happens that the
    queue is, to double precision, a loss system (and 1/patience may overflow)."""
    return agents * mu + lam >= patience_s * _INSTANT_ABANDON


def _loss_system(agents: int, load: float, threshold_s: float, patience_s: float) -> ErlangResult:
    """Erlang A's limit for callers who hang up the instant they must wait: Erlang B.

    The share that finds every agent busy is lost; everyone else is answered at once.
    """
    blocked = erlang_b(agents, load)
    return ErlangResult(
        agents=agents,
        offered_load_erl=load,
        threshold_s=threshold_s,
        p_wait=blocked,
        service_level=1.0 - blocked,
        asa_s=0.0,
        abandon_rate=blocked,
        occupancy=load * (1.0 - blocked) / agents,
        patience_s=patience_s,
    )


def erlang(
    rate_per_h: float,
    aht_s: float,
    agents: int,
    threshold_s: float = 30.0,
    patience_s: float | None = None,
) -> ErlangResult:
    """Erlang A when a patience is given, else Erlang C."""
    if patience_s is None:
        return erlang_c(rate_per_h, aht_s, agents, threshold_s)
    return erlang_a(rate_per_h, aht_s, agents, patience_s, threshold_s)


def agents_for(
    rate_per_h: float,
    aht_s: float,
    target: float,
    threshold_s: float = 30.0,
    patience_s: float | None = None,
) -> ErlangResult:
    """The fewest agents whose service level reaches ``target``, with that result.

    The service level grows with every agent added, so a doubling search
    followed by bisection finds the smallest sufficient number.
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"target must be a share between 0 and 1 (exclusive), got {target}")
    _check_rates(rate_per_h, aht_s, threshold_s)
    load = offered_load(rate_per_h, aht_s)
    if load == 0.0:
        return erlang(rate_per_h, aht_s, 0, threshold_s, patience_s)
    if patience_s is None:
        return _agents_for_c(rate_per_h, aht_s, load, target, threshold_s)
    lo, hi = 0, max(1, math.ceil(load))
    while erlang(rate_per_h, aht_s, hi, threshold_s, patience_s).service_level < target:
        lo, hi = hi, hi * 2
        if hi > 10_000_000:
            raise ValueError("no number of agents reaches this target")
    # lo misses the target (or is 0), hi reaches it.
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if erlang(rate_per_h, aht_s, mid, threshold_s, patience_s).service_level >= target:
            hi = mid
        else:
            lo = mid
    return erlang(rate_per_h, aht_s, hi, threshold_s, patience_s)


def _agents_for_c(
    rate_per_h: float, aht_s: float, load: float, target: float, threshold_s: float
) -> ErlangResult:
    """Erlang C's inverse by one pass of the Erlang B recursion: O(agents)."""
    b, n = 1.0, 0
    while n < 10_000_000:
        n += 1
        b = load * b / (n + load * b)
        if n > load:
            c = n * b / (n - load * (1.0 - b))
            if 1.0 - c * math.exp(-(n - load) / aht_s * threshold_s) >= target:
                return erlang_c(rate_per_h, aht_s, n, threshold_s)
    raise ValueError("no number of agents reaches this target")


def _queue_distribution(
    agents: int, load: float, lam: float, mu: float, theta: float
) -> np.ndarray | None:
    """``π(n+j)`` for ``j = 0, 1, ...``: an arrival finds every agent busy and ``j`` queued.

    With ``π(n)`` as unit, the states below ``n`` sum to ``1/B(n, a)`` (Erlang
    B) and the states above follow ``π(n+j) = π(n+j-1) λ / (nμ + jθ)``.
    """
    if agents == 0:
        below = 0.0  # there is no state below n = 0 besides π(0) itself
    else:
        b = erlang_b(agents, load)
        if b < 1e-250:
            return None
        below = 1.0 / b - 1.0  # states 0 .. n-1
    terms = [1.0]
    total = 1.0
    term = 1.0
    j = 0
    while j < _MAX_QUEUE:
        j += 1
        rate_out = agents * mu + j * theta
        term *= lam / rate_out
        terms.append(term)
        total += term
        if total > _RESCALE:
            # A long patience in deep overload: the chain's weights grow past
            # e^1000 before they turn; rescale (the small ones underflow to 0, as
            # their share does).
            terms = [t / _RESCALE for t in terms]
            total /= _RESCALE
            term /= _RESCALE
            below /= _RESCALE
        if rate_out > lam and term < _TAIL * total:
            break
    waiting = np.array(terms, dtype=float)
    return waiting / (below + total)


def _within_given_ahead(rates: np.ndarray, theta: float, threshold_s: float) -> np.ndarray:
    """P(served within T | j callers ahead) for every j, by uniformization.

    The tagged caller's chain moves from ``m`` callers ahead to ``m-1`` (or into
    service from 0) at rate ``r_m`` and abandons at rate ``θ``. Uniformized at
    rate ``Λ = max(r) + θ``, ``h_k[m]`` is the chance of reaching service within
    ``k`` jumps from ``m`` ahead, and the answer weighs ``h_k`` with the
    Poisson(ΛT) probability of ``k`` jumps. Only positive terms are added.
    """
    slowest = float(rates[0] + theta)  # every stage ends at least this fast
    if threshold_s * slowest >= 2.0 * len(rates) + _WAIT_TAIL:
        return np.cumprod(rates / (rates + theta))
    big = float(rates[-1] + theta)
    mean = big * threshold_s
    if mean <= 0.0:
        # A threshold of zero, or one so short that no stage can end within it
        # (5e-324 s: ΛT underflows to 0): only callers who do not wait are in time.
        return np.zeros(len(rates))
    step = rates / big
    stay = 1.0 - (rates + theta) / big
    log_mean = math.log(mean)
    reached = np.zeros(len(rates))  # h_k
    within = np.zeros(len(rates))
    weight_left = 1.0  # P(N >= k)
    k_max = int(mean + 10.0 * math.sqrt(mean) + 40)
    for k in range(k_max + 1):
        weight = math.exp(-mean + k * log_mean - math.lgamma(k + 1))
        within += weight * reached
        weight_left -= weight
        nxt = stay * reached
        nxt[0] += step[0]
        nxt[1:] += step[1:] * reached[:-1]
        if np.array_equal(nxt, reached):
            # Converged: every later jump count gives the same chance.
            within += max(weight_left, 0.0) * reached
            break
        reached = nxt
    return within


@dataclass(frozen=True)
class StateProfile:
    """What an arriving caller finds, and what it means for them.

    ``p_state[k]``: the stationary chance that an arrival finds ``k`` callers in
    the system (talking or queued; PASTA: arrivals see time averages);
    ``within[k]``: the chance that such a caller is answered within the
    threshold. The service level is their product summed; the last state
    stands for itself only (the tail beyond it is below double precision).
    """

    p_state: tuple[float, ...]
    within: tuple[float, ...]

    @property
    def service_level(self) -> float:
        """Σ p_state[k] · within[k]."""
        return math.fsum(p * w for p, w in zip(self.p_state, self.within, strict=True))


def state_profile(
    rate_per_h: float,
    aht_s: float,
    agents: int,
    threshold_s: float = 30.0,
    patience_s: float | None = None,
) -> StateProfile:
    """The arrival-state distribution and per-state service level of Erlang C or A.

    Erlang C needs ``load < agents``. A caller finding ``k >= n`` waits for
    ``k - n + 1`` service completions (Erlang C: an Erlang(k-n+1, nμ) wait).
    """
    _check_rates(rate_per_h, aht_s, threshold_s)
    load = offered_load(rate_per_h, aht_s)
    _check(agents, load)
    mu = 1.0 / aht_s
    lam = rate_per_h / 3600.0
    if patience_s is None:
        if not load < agents:
            raise ValueError("Erlang C has no steady state at or above full load")
        theta = 0.0
        queue = _erlang_c_queue(agents, load)
    else:
        if not patience_s > 0:
            raise ValueError(f"patience must be a positive number of seconds, got {patience_s}")
        if _abandons_at_once(agents, lam, mu, patience_s):
            # Nobody waits: the arrival that finds every agent busy is lost.
            blocked = erlang_b(agents, load) if load > 0 else 0.0
            below = _below(agents, load, blocked)
            return StateProfile(p_state=(*below, blocked), within=(*([1.0] * agents), 0.0))
        theta = 1.0 / patience_s
        found = _queue_distribution(agents, load, lam, mu, theta)
        queue = found if found is not None else np.zeros(1)
    below = _below(agents, load, float(queue[0]))
    rates = agents * mu + np.arange(len(queue), dtype=float) * theta
    if theta == 0.0:
        x = agents * mu * threshold_s
        within_queue = [_erlang_cdf(j + 1, x) for j in range(len(queue))]
    else:
        within_queue = list(_within_given_ahead(rates, theta, threshold_s))
    return StateProfile(
        p_state=(*below, *(float(q) for q in queue)),
        within=(*([1.0] * agents), *within_queue),
    )


def _below(agents: int, load: float, at_n: float) -> list[float]:
    """P(an arrival finds k < n in the system) for k = 0..n-1, down from P(finds n)."""
    below = [0.0] * agents
    level = at_n
    for k in range(agents, 0, -1):
        level = level * k / load if load > 0 else 0.0
        below[k - 1] = level
    if load == 0.0 and agents > 0:
        below[0] = 1.0
    return below


def _erlang_c_queue(agents: int, load: float) -> np.ndarray:
    """π(n+j) of Erlang C: geometric with ratio ρ = load / agents from π(n) = C (1 - ρ)."""
    rho = load / agents
    c = erlang_c(load * 3600.0, 1.0, agents).p_wait if load > 0 else 0.0
    terms = [c * (1.0 - rho)]
    while terms[-1] > _TAIL * c and len(terms) < _MAX_QUEUE:
        terms.append(terms[-1] * rho)
    return np.array(terms)


def _erlang_cdf(stages: int, x: float) -> float:
    """P(Erlang(stages, 1) <= x) = 1 - e^-x Σ_{i<stages} x^i / i!."""
    term = math.exp(-x)
    total = term
    for i in range(1, stages):
        term *= x / i
        total += term
    return max(0.0, 1.0 - total)


def _check(agents: int, load: float) -> None:
    if agents < 0:
        raise ValueError(f"agents must not be negative, got {agents}")
    if not load >= 0 or not math.isfinite(load):
        raise ValueError(f"offered load must be a finite number >= 0, got {load}")


def _check_rates(rate_per_h: float, aht_s: float, threshold_s: float) -> None:
    if not rate_per_h >= 0 or not math.isfinite(rate_per_h):
        raise ValueError(f"rate must be a finite number of calls per hour >= 0, got {rate_per_h}")
    if not aht_s > 0 or not math.isfinite(aht_s):
        raise ValueError(f"handle time must be a positive number of seconds, got {aht_s}")
    if not threshold_s >= 0 or not math.isfinite(threshold_s):
        raise ValueError(f"threshold must be a finite number of seconds >= 0, got {threshold_s}")
