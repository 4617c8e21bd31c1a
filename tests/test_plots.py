"""Pictures of a fit (lmm_teach.plots), tested for what they show: the number of points,
the labels, the order of the groups, where the arrows go."""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from lmm_teach import data, fit, plots  # noqa: E402


@pytest.fixture(scope="module")
def slopes():
    return fit("Reaction ~ Days + (Days | Subject)", data.load_sleepstudy())


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_caterpillar_sorts_the_groups_by_their_mode_and_labels_them(slopes):
    ax = plots.caterpillar(slopes, column=1)
    modes = slopes.ranef["Subject"]["Days"]
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert labels == list(modes.sort_values().index)             # lowest mode at the bottom
    points = ax.lines[0].get_xdata()
    np.testing.assert_allclose(points, np.sort(modes.to_numpy()))
    assert "Days" in ax.get_xlabel() and ax.get_ylabel() == "Subject"


def test_caterpillar_intervals_are_the_conditional_sds(slopes):
    ax = plots.caterpillar(slopes, column=0, level=0.95)
    segments = ax.collections[0].get_segments()                 # the error bars
    half_widths = np.array([abs(s[1][0] - s[0][0]) / 2 for s in segments])
    sd = np.sqrt(slopes.conditional_covariances()["Subject"][:, 0, 0])
    order = np.argsort(slopes.ranef["Subject"]["(Intercept)"].to_numpy())
    np.testing.assert_allclose(half_widths, 1.959964 * sd[order], rtol=1e-5)


def test_shrinkage_arrows_go_from_each_group_to_the_mixed_model(slopes):
    ax = plots.shrinkage(slopes)
    arrows = [child for child in ax.texts]
    assert len(arrows) == 18
    mixed = slopes.beta.to_numpy() + slopes.ranef["Subject"].to_numpy()
    ends = np.array([arrow.xy for arrow in arrows])
    np.testing.assert_allclose(ends, mixed)
    starts = np.array([arrow.xyann for arrow in arrows])
    # each group alone is farther from the population than the mixed model is
    beta = slopes.beta.to_numpy()
    scale = np.array([slopes.se_beta.iloc[0], slopes.se_beta.iloc[1]])
    assert np.mean(np.linalg.norm((starts - beta) / scale, axis=1)
                   > np.linalg.norm((ends - beta) / scale, axis=1)) > 0.8
    with pytest.raises(ValueError, match="two columns"):
        plots.shrinkage(fit("Reaction ~ Days + (1 | Subject)", data.load_sleepstudy()))


def test_the_profile_plot_crosses_the_interval_lines(slopes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ml = fit("Reaction ~ Days + (Days | Subject)", data.load_sleepstudy(), reml=False)
    ax = plots.profile_zeta(ml, "sigma", n_points=5)
    zeta = ax.lines[0].get_ydata()
    assert zeta.min() < -1.96 and zeta.max() > 1.96 and np.all(np.diff(zeta) > 0)
    assert ax.get_xlabel() == "sigma"
    with pytest.raises(ValueError, match="name must be one of"):
        plots.profile_zeta(ml, "tau")


def test_the_contour_is_drawn_around_the_estimate():
    penicillin = fit("diameter ~ 1 + (1 | plate) + (1 | sample)", data.load_penicillin())
    ax = plots.deviance_contour(penicillin, n=15)
    np.testing.assert_allclose(ax.lines[-1].get_xydata()[0], penicillin.theta)
    assert len(ax.collections) >= 1
    with pytest.raises(ValueError, match="two thetas"):
        plots.deviance_contour(fit("Yield ~ 1 + (1 | Batch)", data.load_dyestuff()))


def test_residual_and_quantile_plots_show_every_point(slopes):
    ax = plots.residuals_fitted(slopes)
    np.testing.assert_allclose(ax.collections[0].get_offsets(),
                               np.column_stack([slopes.fitted(), slopes.residuals()]))
    ax = plots.qq(slopes)
    points = ax.collections[0].get_offsets()
    assert len(points) == 180 and np.all(np.diff(points[:, 1]) >= 0)
    ax = plots.qq(slopes, which="ranef")
    assert len(ax.collections[0].get_offsets()) == 18
    with pytest.raises(ValueError, match="which must be"):
        plots.qq(slopes, which="fixed")


def test_group_lines_draw_one_line_per_group(slopes):
    ax = plots.group_lines(slopes, "Days")
    assert len(ax.lines) == 18 and len(ax.collections) == 18
    first = ax.lines[0]
    rows = slopes.design.terms[0].codes == 0
    np.testing.assert_allclose(np.sort(first.get_ydata()), np.sort(slopes.fitted()[rows]))
    with pytest.raises(ValueError, match="x must be a fixed effect"):
        plots.group_lines(slopes, "Hours")
    with pytest.raises(ValueError, match="group must be one of"):
        plots.caterpillar(slopes, group="Plate")
    with pytest.raises(ValueError, match="column must be 0 to 1"):
        plots.caterpillar(slopes, column=2)
