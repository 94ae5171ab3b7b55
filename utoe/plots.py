"""The HTML report's plots: matplotlib figures rendered to SVG text, inlined
in the page (no network, no JavaScript).

Each function takes plain rows (already read from the results by
utoe.report_html) and returns one `<svg>` element as a string. matplotlib
is imported lazily (its import costs ~0.3 s, paid only when a page is
written) and used through `Figure` objects, never pyplot: no global figure
state, no GUI backend. Text stays text in the SVG (svg.fonttype 'none'):
smaller files, and a browser can search it. The output is deterministic
(no date in the metadata, a fixed hash salt per figure), so an unchanged
report is byte-identical.

Latency kinds have fixed colours and every bar is labelled with its kind,
so an emulated or estimated figure is never read as a measured one."""

import io
import math

KIND_COLOURS = {"measured": "#1f77b4", "emulated": "#2ca02c", "estimated": "#ff7f0e"}
UNFIT_COLOUR = "#b0b0b0"
CAPACITY_COLOUR = "#e4e4e4"
FLAG_COLOUR = "#d62728"
_ROW_INCHES = 0.28


def _figure(labels, cols=1, width=9.0, extra=1.1):
    """A figure of `cols` panels sharing one row per label (bottom to top),
    its margins fitted to the longest label (no bbox_inches='tight': that
    draws the figure twice). Rows are numeric positions with the labels
    as text beside them."""
    from matplotlib.figure import Figure

    height = max(1.8, _ROW_INCHES * len(labels) + extra)
    fig = Figure(figsize=(width, height))
    axes = fig.subplots(1, cols, sharey=True, squeeze=False)[0]
    longest = max((len(str(x)) for x in labels), default=1)
    fig.subplots_adjust(left=min(0.5, (0.3 + 0.075 * longest) / width), right=0.97 if cols > 1 else 0.9,
                        bottom=0.75 / height, top=1 - 0.2 / height, wspace=0.35)
    # row labels as plain text, not ticks: matplotlib builds a Tick (lines, text) per tick, ~1 ms each
    axes[0].set_yticks([])
    axes[0].set_ylim(-0.6, len(labels) - 0.4)
    transform = axes[0].get_yaxis_transform()
    for y, text in enumerate(labels):
        axes[0].text(-0.015, y, str(text), transform=transform, ha="right", va="center", fontsize=9)
    return fig, axes


def _svg(fig, salt):
    """The figure as an <svg> element (no XML prolog: it sits in HTML)."""
    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _log_if_wide(ax, values):
    """Log scale when the positive values span more than two decades (a
    host run next to an emulated board run)."""
    pos = [v for v in values if v and v > 0]
    if pos and max(pos) / min(pos) > 100:
        ax.set_xscale("log")


def latency(rows, salt="latency"):
    """rows: (label, median, ci_low, ci_high, kind) in ms. Bars of the
    median, the 95 % CI as an error bar, the kind in the bar's colour and
    written beside it."""
    labels = [r[0] for r in rows][::-1]
    fig, (ax,) = _figure(labels)
    med = [r[1] for r in rows][::-1]
    lo = [max(0.0, r[1] - r[2]) for r in rows][::-1]
    hi = [max(0.0, r[3] - r[1]) for r in rows][::-1]
    colours = [KIND_COLOURS.get(r[4], UNFIT_COLOUR) for r in rows][::-1]
    ax.barh(range(len(rows)), med, xerr=[lo, hi], color=colours, error_kw={"ecolor": "black", "capsize": 3, "lw": 1})
    _log_if_wide(ax, med)
    for y, r in enumerate(rows[::-1]):
        ax.annotate(f" {_num(r[1])} ms, {r[4]}", (r[3] if r[3] > 0 else r[1], y), va="center", fontsize=8,
                    xytext=(4, 0), textcoords="offset points")
    ax.set_xlabel("latency per inference (ms): median, 95 % CI")
    _kind_legend(ax, {r[4] for r in rows})
    ax.margins(x=0.25)
    return _svg(fig, salt)


def memory(rows, salt="memory"):
    """rows: (label, ram_bytes, ram_capacity|None, flash_bytes,
    flash_capacity|None). Per region, the board's capacity as a light bar,
    the need as a dark bar inside it (the rest is the headroom), the
    headroom written beside it. Log scale: a 5 KB model on a 4 MB board
    stays visible."""
    labels = [r[0] for r in rows][::-1]
    fig, axes = _figure(labels, cols=2, width=10)
    ys = range(len(rows))
    for ax, (used_i, cap_i, name) in zip(axes, ((1, 2, "RAM"), (3, 4, "flash"))):
        used = [r[used_i] / 1000 for r in rows][::-1]
        cap = [(r[cap_i] or 0) / 1000 for r in rows][::-1]
        ax.barh(ys, cap, color=CAPACITY_COLOUR, label="board capacity (headroom)")
        over = [u > c > 0 for u, c in zip(used, cap)]
        ax.barh(ys, used, color=[FLAG_COLOUR if o else "#4c72b0" for o in over], height=0.5, label="need")
        ax.set_xscale("log")
        for y, (u, c) in enumerate(zip(used, cap)):
            text = f" {_num(u)} KB" + (f" of {_num(c)}: {100 * (1 - u / c):.1f} % free" if c else "")
            ax.annotate(text, (max(u, c), y), va="center", fontsize=7, xytext=(2, 0), textcoords="offset points")
        ax.set_xlabel(f"{name} (KB, log scale)")
        ax.margins(x=0.6)
    axes[0].legend(loc="lower right", fontsize=7)
    return _svg(fig, salt)


def operators(names, share, share_label, memory_kb, storage_kb, salt="operators"):
    """One result's operators, sorted by share (largest first): the latency
    or instruction share, and each operator's memory and storage. share may
    be None (a per-model run with no per-operator figure)."""
    n = len(names)
    fig, axes = _figure(names[::-1], cols=3, width=11)
    ys = range(n)
    panels = [(share, share_label), (memory_kb, "memory (KB)"), (storage_kb, "storage (KB)")]
    for ax, (values, title) in zip(axes, panels):
        if values is None:
            ax.barh(ys, [0] * n)
            ax.text(0.5, 0.5, "no per-operator figure\n(per-model run)", transform=ax.transAxes,
                    ha="center", va="center", fontsize=8, color="#555")
        else:
            ax.barh(ys, values[::-1], color="#4c72b0")
            if values is share:  # the figures of memory and storage are in the table under the plot
                for y, v in enumerate(values[::-1]):
                    ax.annotate(f" {_num(v)}", (v, y), va="center", fontsize=7)
            ax.margins(x=0.3)
        ax.set_xlabel(title)
    return _svg(fig, salt)


def selection(rows, salt="selection"):
    """rows, ranked: (board, median ms|None, kind, reason|None). Boards
    that fit: a bar of their latency in the kind's colour; boards that do
    not: a grey bar with the reason."""
    labels = [f"{i}. {r[0]}" if r[1] is not None else f"-  {r[0]}" for i, r in enumerate(rows, 1)][::-1]
    fig, (ax,) = _figure(labels)
    fitted = [r[1] for r in rows if r[1] is not None]
    top = max(fitted) if fitted else 1.0
    widths = [r[1] if r[1] is not None else top for r in rows][::-1]
    colours = [KIND_COLOURS.get(r[2], UNFIT_COLOUR) if r[1] is not None else UNFIT_COLOUR for r in rows][::-1]
    ax.barh(range(len(rows)), widths, color=colours)
    _log_if_wide(ax, fitted)
    for y, r in enumerate(rows[::-1]):
        text = f" {_num(r[1])} ms, {r[2]}" if r[1] is not None else f" does not fit: {r[3]}"
        ax.annotate(text, (widths[y], y), va="center", fontsize=8,
                    color="black" if r[1] is not None else "#555")
    ax.set_xlabel("latency per inference (ms, median); grey: does not fit")
    _kind_legend(ax, {r[2] for r in rows if r[1] is not None})
    ax.margins(x=0.45)
    return _svg(fig, salt)


def changes(labels, series, salt="compare"):
    """Relative change (%) against the baseline, per (board, model):
    series is {metric: [(pct|None, flagged)]}; flagged bars are red, the
    others grey (within the noise)."""
    fig, axes = _figure(labels[::-1], cols=len(series), width=11)
    ys = range(len(labels))
    for ax, (metric, values) in zip(axes, series.items()):
        vals = [v[0] if v[0] is not None and math.isfinite(v[0]) else 0.0 for v in values][::-1]
        ax.barh(ys, vals, color=[FLAG_COLOUR if v[1] else "#9aa5b1" for v in values][::-1])
        ax.axvline(0, color="black", lw=0.8)
        for y, (v, flag) in enumerate(values[::-1]):
            ax.annotate(" -" if v is None else f" {v:+.2f} %", (vals[y], y), va="center", fontsize=7,
                        color=FLAG_COLOUR if flag else "#333")
        ax.set_xlabel(f"{metric}: change (%)")
        ax.margins(x=0.35)
    return _svg(fig, salt)


def _kind_legend(ax, kinds):
    from matplotlib.patches import Patch

    shown = [k for k in KIND_COLOURS if k in kinds]
    if shown:
        ax.legend(handles=[Patch(color=KIND_COLOURS[k], label=k) for k in shown], loc="lower right", fontsize=7)


def _num(x):
    if x is None:
        return "-"
    if x == 0 or abs(x) >= 1:
        return f"{x:,.3f}".rstrip("0").rstrip(".") if abs(x) < 1e6 else f"{x:,.0f}"
    return f"{x:.3g}"
