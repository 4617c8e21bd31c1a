r"""Pictures of a fitted model (matplotlib). Each function takes the result of
``lmm_teach.fit``, draws on ``ax`` (a new figure when None) and returns the Axes, so a reader
can add to it. They show what the chapters after the fit discuss: the random effects with
their uncertainty (caterpillar), shrinkage, profiles, the deviance surface, residuals and
quantile plots, and each group's fitted line. Chapter 18 uses them all (and chapters 16 and
17 the profiles and the deviance surface).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from lmm_teach.design import term_labels
from lmm_teach.pls import profiled_deviance


def _axes(ax):
    """``ax``, or the Axes of a new figure (matplotlib is imported only when a plot is
    made: the package itself does not need it)."""
    if ax is None:
        import matplotlib.pyplot as plt
        _, ax = plt.subplots(figsize=(6, 4))
    return ax


def _term(fit, group: str | None):
    """The term whose label (as ``fit.conditional_covariances`` keys it) is ``group``; the
    first term when None; a ValueError naming the labels otherwise."""
    labels = term_labels(fit.design.terms)
    if group is None:
        return fit.design.terms[0], labels[0]
    if group not in labels:
        raise ValueError(f"group must be one of {labels}, not {group!r}")
    return fit.design.terms[labels.index(group)], group


def caterpillar(fit, group: str | None = None, column: int = 0, level: float = 0.95,
                ax=None):
    r"""The conditional modes :math:`\hat b_j` of one column of one term, sorted, each with
    the interval :math:`\hat b_j \pm z_{1-\alpha/2} \sqrt{\operatorname{Var}(b_j \mid y)}`
    (lme4's ``dotplot(ranef(fit, condVar = TRUE))``). The level names label the y axis."""
    term, label = _term(fit, group)
    if not 0 <= column < term.k:
        raise ValueError(f"column must be 0 to {term.k - 1} for {term.name}, not {column!r}")
    modes = fit.ranef[term.group][term.columns[column]].to_numpy()
    sd = np.sqrt(fit.conditional_covariances()[label][:, column, column])
    order = np.argsort(modes)
    z = stats.norm.ppf(0.5 + level / 2)
    ax = _axes(ax)
    positions = np.arange(order.size)
    ax.errorbar(modes[order], positions, xerr=z * sd[order], fmt="o", color="tab:blue",
                ecolor="grey", markersize=4)
    ax.axvline(0, color="grey", lw=0.5)
    ax.set_yticks(positions, [term.levels[j] for j in order])
    ax.set(xlabel=f"conditional mode of {term.columns[column]} ({level:.0%} interval)",
           ylabel=term.group, title=f"Random effects: {term.name}")
    return ax


def shrinkage(fit, group: str | None = None, ax=None):
    r"""Each group's own least-squares coefficients (the term's columns, fitted to that group
    alone) against the mixed model's :math:`\hat\beta + \hat b_j`, joined by arrows that
    point to the mixed model: the conditional modes pull the groups towards the population
    line, most where a group says least. For a term with two columns, a plane of the two;
    the term's columns must be fixed effects too."""
    term, _ = _term(fit, group)
    if term.k != 2 or not set(term.columns) <= set(fit.fixed_names):
        raise ValueError("the shrinkage plot needs a term of two columns that are also "
                         f"fixed effects, such as (Days | Subject); not {term.name}")
    beta = fit.beta[list(term.columns)].to_numpy()
    mixed = beta + fit.ranef[term.group][list(term.columns)].to_numpy()
    own = np.array([np.linalg.lstsq(term.X_i[term.codes == j], fit.design.y[term.codes == j],
                                    rcond=None)[0] for j in range(len(term.levels))])
    ax = _axes(ax)
    ax.scatter(*own.T, color="tab:red", s=18, label="each group alone")
    ax.scatter(*mixed.T, color="tab:blue", s=18, label="mixed model")
    for start, end in zip(own, mixed):
        ax.annotate("", xy=end, xytext=start, arrowprops={"arrowstyle": "->", "color": "grey"})
    ax.scatter(*beta, marker="+", s=120, color="black", label="population")
    ax.set(xlabel=term.columns[0], ylabel=term.columns[1], title=f"Shrinkage: {term.name}")
    ax.legend(frameon=False)
    return ax


def profile_zeta(fit, name: str, n_points: int = 9, ax=None):
    r"""lme4's profile plot for one parameter: :math:`\zeta` against its value
    (:func:`lmm_teach.intervals.profile`), with the lines :math:`\zeta = \pm 1.96`; a
    straight line means a quadratic deviance, where a Wald interval would do."""
    from lmm_teach.intervals import parameter_names, profile
    if name not in parameter_names(fit):
        raise ValueError(f"name must be one of {parameter_names(fit)}, not {name!r}")
    curves = profile(fit, n_points=n_points)
    curve = curves[curves["parameter"] == name]
    ax = _axes(ax)
    ax.plot(curve["value"], curve["zeta"], "o-", color="tab:blue", markersize=3)
    for z in (-1.96, 1.96):
        ax.axhline(z, color="grey", lw=0.5, ls=":")
    ax.set(xlabel=name, ylabel=r"$\zeta$", title=f"Profile of {name}")
    return ax


def deviance_contour(fit, n: int = 41, ax=None):
    r"""For a model with two :math:`\theta`'s, the profiled deviance (ML) or REML criterion
    over a grid of both, with contours where it exceeds its minimum by the
    :math:`\chi^2_2` quantiles 0.5, 0.8, 0.95 and 0.99: joint confidence regions."""
    if fit.theta.size != 2:
        raise ValueError(f"the contour needs a model with two thetas; this one has "
                         f"{fit.theta.size}")
    spans = [np.linspace(0, 2.5 * max(t, 0.1), n) for t in fit.theta]
    grid = np.array([[profiled_deviance(np.array([a, b]), fit.design, fit.reml)
                      for a in spans[0]] for b in spans[1]])
    ax = _axes(ax)
    levels = fit.deviance + stats.chi2.ppf([0.5, 0.8, 0.95, 0.99], 2)
    ax.contour(spans[0], spans[1], grid, levels=levels, colors="tab:blue")
    ax.plot(*fit.theta, "+", color="black", markersize=10)
    ax.set(xlabel=r"$\theta_1$", ylabel=r"$\theta_2$",
           title="Deviance contours (50, 80, 95, 99%)")
    return ax


def residuals_fitted(fit, ax=None):
    """Conditional residuals against fitted values, with a line at 0: curvature or a funnel
    shape would show a mean or a variance the model misses."""
    ax = _axes(ax)
    ax.scatter(fit.fitted(), fit.residuals(), s=10, color="tab:blue")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set(xlabel="fitted value", ylabel="conditional residual",
           title="Residuals against fitted values")
    return ax


def qq(fit, which: str = "residuals", group: str | None = None, ax=None):
    """A normal quantile plot of the conditional residuals (``which="residuals"``) or of one
    term's conditional modes (``"ranef"``, its first column), with the line through the
    quartiles."""
    if which == "residuals":
        values, label = fit.residuals(), "conditional residuals"
    elif which == "ranef":
        term, _ = _term(fit, group)
        values = fit.ranef[term.group][term.columns[0]].to_numpy()
        label = f"conditional modes, {term.columns[0]} | {term.group}"
    else:
        raise ValueError(f"which must be 'residuals' or 'ranef', not {which!r}")
    ordered = np.sort(values)
    normal = stats.norm.ppf((np.arange(1, ordered.size + 1) - 0.5) / ordered.size)
    ax = _axes(ax)
    ax.scatter(normal, ordered, s=10, color="tab:blue")
    q1, q3 = np.quantile(values, [0.25, 0.75])
    slope = (q3 - q1) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
    ax.axline((0, (q1 + q3) / 2), slope=slope, color="grey", lw=0.8)
    ax.set(xlabel="normal quantile", ylabel=label, title=f"Normal quantile plot: {label}")
    return ax


def group_lines(fit, x: str, group: str | None = None, ax=None):
    """Each group's data and its fitted line (fixed and random effects) against the column
    ``x``, one colour per group, for a model such as ``y ~ x + (x | g)``."""
    term, _ = _term(fit, group)
    if x not in fit.design.fixed_names:
        raise ValueError(f"x must be a fixed effect of the model, not {x!r}")
    column = fit.design.X[:, list(fit.design.fixed_names).index(x)]
    fitted = fit.fitted()
    ax = _axes(ax)
    for j, level in enumerate(term.levels):
        rows = np.flatnonzero(term.codes == j)
        order = rows[np.argsort(column[rows])]
        line, = ax.plot(column[order], fitted[order], lw=1)
        ax.scatter(column[rows], fit.design.y[rows], s=8, color=line.get_color())
    ax.set(xlabel=x, ylabel="response", title=f"Fitted lines by {term.group}")
    return ax
