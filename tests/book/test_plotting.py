"""Specification of gc_tutorial.book.plotting, on the statistics of handmade result frames."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.figure  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from gc_tutorial.book.experiments import (  # noqa: E402
    VALUE_COLUMNS,
    arm_curves,
    difference_statistics,
    epochs_to_reach,
    paired_differences,
    reach_summary,
    sweep_summary,
)
from gc_tutorial.book.experiments.answer import effect_over_epochs  # noqa: E402
from gc_tutorial.book.plotting import (  # noqa: E402
    plot_curves,
    plot_effect_over_epochs,
    plot_epochs_to_reach,
    plot_lr_sweep,
    plot_paired_differences,
)

ARMS = ("Adam", "Adam + GC")


def curves(n_seeds: int = 3, epochs: int = 4) -> pd.DataFrame:
    """Loss falling over epochs; each seed a little off; GC a little lower."""
    rows = []
    for seed in range(n_seeds):
        for offset, arm in enumerate(ARMS):
            for epoch in range(1, epochs + 1):
                loss = 1.0 / epoch - 0.1 * offset + 0.05 * seed
                rows.append((seed, arm, epoch, "train", "loss", loss))
                rows.append((seed, arm, epoch, "validation", "loss", loss + 0.2))
                rows.append((seed, arm, epoch, "train", "epoch_time_s", 0.5))
            rows.append((seed, arm, epochs, "test", "loss", 0.4))
    return pd.DataFrame(rows, columns=list(VALUE_COLUMNS))


def sweep(rates=(1e-3, 1e-2, 1e-1), n_seeds: int = 2) -> pd.DataFrame:
    """Final validation loss per rate; "Adam" diverges in seed 1 at 1e-1."""
    frames = []
    for rate in rates:
        frame = curves(n_seeds=n_seeds, epochs=2)
        frame["value"] = frame["value"] * (1 + rate)
        diverged = (frame["arm"] == "Adam") & (frame["seed"] == 1) & (frame["split"] != "train")
        if rate == 1e-1:
            frame.loc[diverged, "value"] = np.nan
        frame.insert(0, "learning_rate", rate)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_curves_figure_is_labelled():
    figure = plot_curves(arm_curves(curves(), "loss"))
    assert isinstance(figure, matplotlib.figure.Figure)
    (ax,) = figure.axes
    assert ax.get_xlabel() == "epoch"
    assert ax.get_ylabel() == "loss"
    assert "3 seeds" in ax.get_title()


def test_curves_one_line_per_arm_and_split_at_the_seed_mean():
    (ax,) = plot_curves(arm_curves(curves(), "loss")).axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert set(lines) == {
        "Adam (train)",
        "Adam (validation)",
        "Adam + GC (train)",
        "Adam + GC (validation)",
    }
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert sorted(legend) == sorted(lines)
    x, y = lines["Adam (train)"].get_data()
    np.testing.assert_array_equal(x, [1, 2, 3, 4])
    np.testing.assert_allclose(y, 1.0 / np.arange(1, 5) + 0.05)  # mean of seeds
    assert lines["Adam (train)"].get_color() == lines["Adam (validation)"].get_color()
    assert lines["Adam (train)"].get_color() != lines["Adam + GC (train)"].get_color()
    train, validation = lines["Adam (train)"], lines["Adam (validation)"]
    assert train.get_linestyle() != validation.get_linestyle()


def test_curves_have_a_one_std_seed_band_per_line():
    (ax,) = plot_curves(arm_curves(curves(), "loss")).axes
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 4
    # Seeds are 0.05 apart: std (ddof=1) over three seeds is 0.05, so at
    # every epoch each band spans mean - 0.05 to mean + 0.05.
    for band in bands:
        vertices = band.get_paths()[0].vertices
        at_epoch_2 = vertices[np.isclose(vertices[:, 0], 2.0), 1]
        assert np.ptp(at_epoch_2) == pytest.approx(0.1)


def test_curves_without_seed_spread_have_no_band():
    (ax,) = plot_curves(arm_curves(curves(n_seeds=1), "loss")).axes
    assert not [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(ax.get_lines()) == 4


def test_curves_draw_into_given_axes_and_chosen_splits():
    figure, ax = plt.subplots()
    returned = plot_curves(arm_curves(curves(), "epoch_time_s", splits=("train",)), ax=ax)
    assert returned is figure
    assert [line.get_label() for line in ax.get_lines()] == ["Adam (train)", "Adam + GC (train)"]
    assert ax.get_ylabel() == "epoch_time_s"


def test_curves_name_a_split_as_told():
    # A comparison that watched the test set each epoch passes it as its
    # validation data; the legend then says "test".
    (ax,) = plot_curves(arm_curves(curves(), "loss"), split_labels={"validation": "test"}).axes
    assert {line.get_label() for line in ax.get_lines()} == {
        "Adam (train)",
        "Adam (test)",
        "Adam + GC (train)",
        "Adam + GC (test)",
    }


def test_lr_sweep_figure_is_log_x_and_labelled():
    figure = plot_lr_sweep(sweep_summary(sweep()))
    assert isinstance(figure, matplotlib.figure.Figure)
    (ax,) = figure.axes
    assert ax.get_xscale() == "log"
    assert ax.get_xlabel() == "learning rate"
    assert ax.get_ylabel() == "final validation loss"


def test_lr_sweep_one_line_per_arm_with_error_bars():
    (ax,) = plot_lr_sweep(sweep_summary(sweep())).axes
    assert [c.get_label() for c in ax.containers] == list(ARMS)
    for container in ax.containers:
        data_line, _, error_bars = container.lines
        np.testing.assert_array_equal(data_line.get_xdata(), [1e-3, 1e-2, 1e-1])
        assert error_bars  # the ±1 std bars over seeds


def test_lr_sweep_leaves_diverged_points_out_and_says_so():
    (ax,) = plot_lr_sweep(sweep_summary(sweep())).axes
    lines = {c.get_label(): c.lines[0] for c in ax.containers}
    adam = np.asarray(lines["Adam"].get_ydata(), dtype=float)
    gc = np.asarray(lines["Adam + GC"].get_ydata(), dtype=float)
    assert np.isfinite(adam[:2]).all() and np.isnan(adam[2])
    assert np.isfinite(gc).all()
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert "Adam: non-finite (diverged)" in legend
    (marker,) = [line for line in ax.get_lines() if "non-finite" in line.get_label()]
    np.testing.assert_array_equal(marker.get_xdata(), [1e-1])


def test_lr_sweep_without_divergence_has_no_note():
    (ax,) = plot_lr_sweep(sweep_summary(sweep(rates=(1e-3, 1e-2)))).axes
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend == list(ARMS)


def test_lr_sweep_plots_the_summarys_mean_and_names_its_quantity():
    summary = sweep_summary(sweep(), "loss", "train")
    (ax,) = plot_lr_sweep(summary).axes
    adam = {c.get_label(): c.lines[0] for c in ax.containers}["Adam"]
    np.testing.assert_allclose(adam.get_ydata(), summary.loc[summary["arm"] == "Adam", "mean"])
    assert ax.get_ylabel() == "final train loss"


def reached(metric="loss", mode="min", targets=(0.81, 0.61, 0.46)) -> pd.DataFrame:
    """Epochs to reach targets of `curves()`'s validation loss, summed up over seeds.

    The loss is 1/epoch + 0.2 + 0.05 seed, GC's 0.1 lower.

    Adam reaches 0.81 at epoch 2 in every seed, 0.61 at epochs 3, 3, 4, and
    0.46 only in seed 0 (at epoch 4). GC reaches 0.81 at 2, 2, 2; 0.61 at
    2, 3, 3; 0.46 at 3, 4, 4.
    """
    return reach_summary(epochs_to_reach(curves(), metric, targets, mode=mode))


def test_reach_figure_is_labelled_with_hard_targets_on_the_right():
    figure = plot_epochs_to_reach(reached())
    assert isinstance(figure, matplotlib.figure.Figure)
    (ax,) = figure.axes
    assert ax.get_xlabel() == "target validation loss (lower is better)"
    assert ax.get_ylabel() == "epochs to reach it"
    assert "3 seeds" in ax.get_title()
    assert ax.xaxis_inverted()  # lower loss, further right
    accuracy_like = reached(mode="max", targets=(1.01, 1.21))
    (ax,) = plot_epochs_to_reach(accuracy_like).axes
    assert not ax.xaxis_inverted()


def test_reach_lines_are_the_seed_median_and_misses_sit_above_the_last_epoch():
    (ax,) = plot_epochs_to_reach(reached()).axes
    lines = {line.get_label(): line for line in ax.get_lines() if line.get_label() in ARMS}
    assert set(lines) == set(ARMS)
    x, y = lines["Adam"].get_data()
    # By increasing target: at 0.46 two of Adam's seeds miss ("not reached" = 5).
    np.testing.assert_array_equal(x, [0.46, 0.61, 0.81])
    np.testing.assert_array_equal(y, [5, 3, 2])
    np.testing.assert_array_equal(lines["Adam + GC"].get_ydata(), [4, 3, 2])
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert labels[-1] == "not reached"
    assert ax.get_yticks()[-1] == 5


def test_reach_band_spans_fastest_to_slowest_seed():
    (ax,) = plot_epochs_to_reach(reached()).axes
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2
    adam = bands[0].get_paths()[0].vertices
    at_hardest = adam[np.isclose(adam[:, 0], 0.46), 1]
    assert (at_hardest.min(), at_hardest.max()) == (4, 5)


def test_reach_plot_rejects_mixed_frames():
    for other in (
        reached(mode="max", targets=(0.5,)),
        reach_summary(epochs_to_reach(curves(), "loss", (0.81,), mode="min", sustained=True)),
    ):
        with pytest.raises(ValueError, match="one at a time"):
            plot_epochs_to_reach(pd.concat([reached(), other]))


def test_reach_and_keep_is_labelled_as_such():
    sustained = reach_summary(
        epochs_to_reach(curves(), "loss", (0.81, 0.61), mode="min", sustained=True)
    )
    (ax,) = plot_epochs_to_reach(sustained).axes
    assert ax.get_ylabel() == "epochs to reach and keep it"


def test_paired_differences_one_panel_per_study_and_metric_with_dots_mean_and_interval():
    rows = []
    for seed in range(5):
        for arm, shift in (("Adam", 0.0), ("Adam + GC", -0.1), ("Adam + GC on the update", 0.0)):
            noise = 0.01 * (seed % 2) if shift else 0.0
            rows.append((seed, arm, 2, "test", "loss", 1.0 + 0.1 * seed + shift + noise))
            rows.append((seed, arm, 2, "test", "accuracy", 0.7 + 0.01 * seed - shift / 10))
    results = pd.DataFrame(rows, columns=list(VALUE_COLUMNS))
    pairs = {"Adam + GC": "Adam", "Adam + GC on the update": "Adam"}
    differences = pd.concat(
        [
            paired_differences(results, pairs, metric, "test").assign(study=study)
            for study in ("nyc_taxi", "horses_or_humans")
            for metric in ("loss", "accuracy")
        ]
    )
    figure = plot_paired_differences(differences, difference_statistics(differences))
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert len(panels) == 4
    assert panels[0].get_title() == "nyc_taxi: test loss, epoch 2"
    assert panels[0].get_ylabel() == "GC − baseline (lower is better)"
    assert panels[1].get_ylabel() == "GC − baseline (higher is better)"
    ax = panels[0]
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    assert labels == ["Adam + GC\nvs Adam", "Adam + GC on the update\nvs Adam"]
    dots = [line for line in ax.get_lines() if line.get_marker() == "o"]
    assert [len(line.get_ydata()) for line in dots] == [5, 5]
    gc = differences[
        (differences["study"] == "nyc_taxi")
        & (differences["metric"] == "loss")
        & (differences["treatment"] == "Adam + GC")
    ]
    np.testing.assert_allclose(sorted(dots[0].get_ydata()), sorted(gc["difference"]))
    (row,) = difference_statistics(gc).itertuples()
    means = [line for line in ax.get_lines() if line.get_marker() == "s"]
    assert means[0].get_ydata()[0] == pytest.approx(row.mean_difference)
    caps = np.concatenate(
        [
            line.get_ydata()
            for line in ax.get_lines()
            if line.get_marker() == "_" and line.get_xdata()[0] < 0.5
        ]
    )
    assert min(caps) == pytest.approx(row.ci95_low) and max(caps) == pytest.approx(row.ci95_high)
    assert any(line.get_ydata()[0] == 0 and line.get_linestyle() == "--" for line in ax.get_lines())
    assert any(text.get_text() == "5/5 better" for text in ax.texts)
    assert not any("noise" in text.get_text() for text in ax.texts), "statistics decide nothing"
    decided = difference_statistics(gc).assign(verdict="within noise")
    shown = plot_paired_differences(gc, decided).axes[0]
    assert any(text.get_text().startswith("within noise\n") for text in shown.texts)
    with pytest.raises(ValueError, match="lack the rows"):
        plot_paired_differences(differences.iloc[:3], difference_statistics(differences))


def test_effect_over_epochs_has_one_line_and_band_per_comparison():
    rows = []
    for seed in range(4):
        for arm, shift in (("Adam", 0.0), ("Adam + GC", -0.1), ("Adam + GC on the update", 0.1)):
            for epoch in (1, 2, 3):
                rows.append((seed, arm, epoch, "train", "loss", 1.0 / epoch + shift + 0.01 * seed))
    results = pd.DataFrame(rows, columns=list(VALUE_COLUMNS))
    pairs = {"Adam + GC": "Adam", "Adam + GC on the update": "Adam"}
    statistics = effect_over_epochs(results, pairs, "loss", "train")
    (ax,) = plot_effect_over_epochs(statistics).axes
    lines = [line for line in ax.get_lines() if not line.get_label().startswith("_")]
    assert [line.get_label() for line in lines] == [
        "Adam + GC − Adam",
        "Adam + GC on the update − Adam",
        "Adam + GC on the update − Adam + GC",
    ]
    np.testing.assert_allclose(lines[0].get_ydata(), [-0.1] * 3)
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 3
    assert ax.get_ylabel() == "train loss: GC − baseline\n(GC better below 0)"


@pytest.mark.parametrize(
    "plot, frame",
    [
        (plot_curves, lambda: arm_curves(curves(), "loss").iloc[:0]),
        (plot_lr_sweep, lambda: sweep_summary(sweep()).iloc[:0]),
        (plot_epochs_to_reach, lambda: reached().iloc[:0]),
        (plot_effect_over_epochs, lambda: pd.DataFrame()),
    ],
)
def test_a_plot_of_an_empty_frame_says_so(plot, frame):
    with pytest.raises(ValueError, match="empty"):
        plot(frame())


def test_paired_differences_of_no_statistics_say_so():
    with pytest.raises(ValueError, match="empty"):
        plot_paired_differences(pd.DataFrame(), pd.DataFrame())
