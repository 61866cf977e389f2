"""Measurements with their noise: a binomial proportion's 95% interval, the Fréchet distance
between two feature sets with a bootstrap interval around it, and precision and recall, fidelity
and coverage apart."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import pairwise_distances

Z95 = 1.959963984540054  # the standard normal's 97.5th percentile


@dataclass(frozen=True)
class Measurement:
    """A value with its 95% interval, as metrics files hold it."""

    value: float
    ci95_low: float
    ci95_high: float

    @classmethod
    def rounded(cls, value: float, low: float, high: float, digits: int = 6) -> Measurement:
        return cls(round(value, digits), round(low, digits), round(high, digits))

    @property
    def half_width(self) -> float:
        return (self.ci95_high - self.ci95_low) / 2


def proportion(successes: int, trials: int) -> Measurement:
    """successes / trials with its Wilson score 95% interval (sound near 0 and 1, and for
    small counts, where the normal approximation is not)."""
    if trials < 1:
        raise ValueError("a proportion needs at least one trial")
    p = successes / trials
    spread = Z95**2 / trials
    centre = (p + spread / 2) / (1 + spread)
    half = Z95 * math.sqrt(p * (1 - p) / trials + spread / (4 * trials)) / (1 + spread)
    return Measurement.rounded(p, max(0.0, centre - half), min(1.0, centre + half))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) for features (N, D) of each set.

    Tr((S_a S_b)^1/2) is the sum of the square roots of the eigenvalues of S_a S_b, which are
    real and non-negative for covariances; tiny negative ones are rounding noise.
    """
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eigenvalues = np.linalg.eigvals(cov_a @ cov_b).real
    root_trace = np.sqrt(np.clip(eigenvalues, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * root_trace)


def bootstrap_frechet(a: np.ndarray, b: np.ndarray, rounds: int, seed: int) -> Measurement:
    """The Fréchet distance with a bootstrap 95% interval (both sets resampled).

    Resampling repeats points, which inflates the distance: the resamples' percentiles can miss
    the estimate itself. So the percentile interval is moved by the resamples' mean excess over
    the estimate, keeping their spread; distances are not negative, so neither is its low end.
    """
    rng = np.random.default_rng(seed)
    draws = [
        frechet_distance(a[rng.integers(0, len(a), len(a))], b[rng.integers(0, len(b), len(b))])
        for _ in range(rounds)
    ]
    distance = frechet_distance(a, b)
    excess = float(np.mean(draws)) - distance
    low, high = (float(q) - excess for q in np.percentile(draws, [2.5, 97.5]))
    return Measurement.rounded(distance, max(0.0, low), high, digits=4)


def manifold_hits(points: np.ndarray, reference: np.ndarray, k: int) -> np.ndarray:
    """Whether each point lies inside the reference set's estimated manifold: the union of balls
    around each reference point reaching its k-th nearest neighbour in the reference set
    (Kynkäänniemi et al., 2019)."""
    if len(reference) <= k:
        raise ValueError(f"a manifold of k = {k} neighbours needs more than {k} points")
    within = pairwise_distances(reference, reference)  # (R, R), its diagonal 0: each point itself
    radii = np.sort(within, axis=1)[:, k]  # (R,)
    return (pairwise_distances(points, reference) <= radii[None, :]).any(axis=1)  # (P,)


def precision_recall(
    generated: np.ndarray, real: np.ndarray, k: int = 3
) -> tuple[Measurement, Measurement]:
    """Precision (the share of generated samples inside the real images' manifold: fidelity)
    and recall (the share of real images inside the samples' manifold: coverage), each with its
    Wilson interval over the points judged."""
    precise, covered = manifold_hits(generated, real, k), manifold_hits(real, generated, k)
    return (proportion(int(precise.sum()), len(precise)),
            proportion(int(covered.sum()), len(covered)))  # fmt: skip
