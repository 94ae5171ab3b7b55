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
# legends above the plot's top right corner, clear of the bars and their labels
_ABOVE = {"loc": "lower right", "bbox_to_anchor": (1.0, 1.0), "ncol": 3, "frameon": False, "borderaxespad": 0.2}


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
                        bottom=0.75 / height, top=1 - 0.35 / height, wspace=0.35)
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
    host run next to an emulated board run); the bars' left edge: 0, or
    on a log scale a value below the smallest (log has no 0)."""
    pos = [v for v in values if v and v > 0]
    if pos and max(pos) / min(pos) > 100:
        ax.set_xscale("log")
        return min(pos) / 3
    return 0.0


def _bars(ax, widths, colours, left=0.0, height=0.8, offset=0.0, label=None, err=None):
    """Horizontal bars, one per row (row y at y + offset), as one
    PolyCollection: matplotlib's barh adds a Rectangle artist per bar and
    updates the limits for each, ~0.3 ms a bar. err: (lows, highs) drawn as
    whiskers with caps (two LineCollections)."""
    from matplotlib.collections import PolyCollection

    h = height / 2
    verts = [[(left, y + offset - h), (left, y + offset + h), (w, y + offset + h), (w, y + offset - h)]
             for y, w in enumerate(widths)]
    ax.add_collection(PolyCollection(verts, facecolors=colours, edgecolors="none", label=label))
    xs = [left] + list(widths)
    if err is not None:
        lows, highs = err
        ys = [y + offset for y in range(len(widths))]
        ax.hlines(ys, lows, highs, colors="black", lw=1)
        ax.vlines(list(lows) + list(highs), [y - 0.15 for y in ys] * 2, [y + 0.15 for y in ys] * 2,
                  colors="black", lw=1)
        xs += list(lows) + list(highs)
    ax.update_datalim([(x, 0) for x in xs], updatey=False)
    ax.autoscale_view(scaley=False)


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
    left = _log_if_wide(ax, med + [r[2] for r in rows])
    _bars(ax, med, colours, left, err=([max(left, m - d) for m, d in zip(med, lo)], [m + d for m, d in zip(med, hi)]))
    for y, r in enumerate(rows[::-1]):
        ax.text(r[3] if r[3] > 0 else r[1], y, f"  {_num(r[1])} ms, {r[4]}", va="center", fontsize=8)
    ax.set_xlabel("latency per inference (ms): median, 95 % CI")
    _kind_legend(ax, {r[4] for r in rows})
    ax.margins(x=0.25)
    ax.set_xlim(left=left)
    return _svg(fig, salt)


def memory(rows, salt="memory"):
    """rows: (label, ram_bytes, ram_capacity|None, flash_bytes,
    flash_capacity|None). Per region, the board's capacity as a light bar,
    the need as a dark bar inside it (the rest is the headroom), the
    headroom written beside it. Log scale: a 5 KB model on a 4 MB board
    stays visible."""
    labels = [r[0] for r in rows][::-1]
    fig, axes = _figure(labels, cols=2, width=10)
    for ax, (used_i, cap_i, name) in zip(axes, ((1, 2, "RAM"), (3, 4, "flash"))):
        used = [r[used_i] / 1000 for r in rows][::-1]
        cap = [(r[cap_i] or 0) / 1000 for r in rows][::-1]
        ax.set_xscale("log")
        left = min(v for v in used + cap if v > 0) / 3
        _bars(ax, [c if c else left for c in cap], CAPACITY_COLOUR, left, label="board capacity (headroom)")
        over = [u > c > 0 for u, c in zip(used, cap)]
        _bars(ax, used, [FLAG_COLOUR if o else "#4c72b0" for o in over], left, height=0.5, label="need")
        for y, (u, c) in enumerate(zip(used, cap)):
            text = f" {_num(u)} KB" + (f" of {_num(c)}: {100 * (1 - u / c):.1f} % free" if c else "")
            ax.text(u, y, text, va="center", fontsize=7)  # over the light capacity bar, right of the need
        ax.set_xlabel(f"{name} (KB, log scale)")
        ax.margins(x=0.25)
        ax.set_xlim(left=left)
    axes[0].legend(fontsize=7, **_ABOVE)
    return _svg(fig, salt)


def operators(names, share, share_label, memory_kb, storage_kb, salt="operators", parts=None):
    """One result's operators, sorted by share (largest first): the latency
    or instruction share, and each operator's memory (activations it
    touches) and storage (its weights) side by side in a second panel (two
    panels, not three: each axes costs matplotlib ~20 ms). share may be
    None (a per-model run with no per-operator figure). parts: [(label,
    [fraction of each operator's share], colour)], the share split by cause
    (an estimate's compute, flash wait, cache misses), stacked in order."""
    n = len(names)
    fig, (left, right) = _figure(names[::-1], cols=2, width=11)
    if share is None:
        _bars(left, [0] * n, "#4c72b0")
        left.text(0.5, 0.5, "no per-operator figure\n(per-model run)", transform=left.transAxes,
                  ha="center", va="center", fontsize=8, color="#555")
    elif parts:
        # stacked by drawing the cumulative bars longest first, each over the previous
        cumulative, acc = [], [0.0] * n
        for label, fractions, colour in parts:
            acc = [a + s * f for a, s, f in zip(acc, share, fractions)]
            cumulative.append((label, acc, colour))
        for label, acc, colour in reversed(cumulative):
            _bars(left, acc[::-1], colour, label=label)
        for y, v in enumerate(share[::-1]):
            left.text(v, y, f" {_num(v)}", va="center", fontsize=7)
        left.margins(x=0.2)
        handles, labels = left.get_legend_handles_labels()  # drawn longest first: list them in stacking order
        left.legend(handles[::-1], labels[::-1], fontsize=7, **_ABOVE)
    else:
        _bars(left, share[::-1], "#4c72b0")
        for y, v in enumerate(share[::-1]):
            left.text(v, y, f" {_num(v)}", va="center", fontsize=7)
        left.margins(x=0.2)
    left.set_xlabel(share_label)
    _bars(right, memory_kb[::-1], "#4c72b0", height=0.4, offset=0.2, label="memory")
    _bars(right, storage_kb[::-1], "#dd8452", height=0.4, offset=-0.2, label="storage")
    right.set_xlabel("memory and storage (KB)")
    right.legend(fontsize=7, **_ABOVE)
    return _svg(fig, salt)


def selection(rows, salt="selection"):
    """rows, ranked: (board, median ms|None, kind, reason|None, ci_low,
    ci_high). Boards that fit: a bar of their latency in the kind's colour,
    the 95 % CI as a whisker; boards that do not: a grey bar with the
    reason."""
    labels = [f"{i}. {r[0]}" if r[1] is not None else f"-  {r[0]}" for i, r in enumerate(rows, 1)][::-1]
    fig, (ax,) = _figure(labels)
    fitted = [r[1] for r in rows if r[1] is not None]
    top = max(fitted) if fitted else 1.0
    widths = [r[1] if r[1] is not None else top for r in rows][::-1]
    colours = [KIND_COLOURS.get(r[2], UNFIT_COLOUR) if r[1] is not None else UNFIT_COLOUR for r in rows][::-1]
    left = _log_if_wide(ax, fitted + [r[4] for r in rows if r[1] is not None])
    fit_rows = [(y, r) for y, r in enumerate(rows[::-1]) if r[1] is not None]
    _bars(ax, widths, colours, left)
    if fit_rows:  # the 95 % CI of the boards that fit
        ys = [y for y, _ in fit_rows]
        ax.hlines(ys, [max(left, r[4]) for _, r in fit_rows], [r[5] for _, r in fit_rows], colors="black", lw=1)
    for y, r in enumerate(rows[::-1]):
        text = f" {_num(r[1])} ms, {r[2]}" if r[1] is not None else f" does not fit: {r[3]}"
        ax.text(widths[y], y, text, va="center", fontsize=8,
                    color="black" if r[1] is not None else "#555")
    ax.set_xlabel("latency per inference (ms): median, 95 % CI; grey: does not fit")
    _kind_legend(ax, {r[2] for r in rows if r[1] is not None})
    ax.margins(x=0.45)
    ax.set_xlim(left=left)
    return _svg(fig, salt)


def changes(labels, series, salt="compare"):
    """Relative change (%) against the baseline, per (board, model):
    series is {metric: [(pct|None, flagged)]}; flagged bars are red, the
    others grey (within the noise)."""
    fig, axes = _figure(labels[::-1], cols=len(series), width=11)
    for ax, (metric, values) in zip(axes, series.items()):
        vals = [v[0] if v[0] is not None and math.isfinite(v[0]) else 0.0 for v in values][::-1]
        _bars(ax, vals, [FLAG_COLOUR if v[1] else "#9aa5b1" for v in values][::-1])
        ax.axvline(0, color="black", lw=0.8)
        for y, (v, flag) in enumerate(values[::-1]):
            ax.text(vals[y], y, " -" if v is None else f" {v:+.2f} %", va="center", fontsize=7,
                        color=FLAG_COLOUR if flag else "#333")
        ax.set_xlabel(f"{metric}: change (%)")
        ax.margins(x=0.35)
    return _svg(fig, salt)


def _kind_legend(ax, kinds):
    from matplotlib.patches import Patch

    shown = [k for k in KIND_COLOURS if k in kinds]
    if shown:
        ax.legend(handles=[Patch(color=KIND_COLOURS[k], label=k) for k in shown], fontsize=7, **_ABOVE)


def _num(x):
    if x is None:
        return "-"
    if x == 0 or abs(x) >= 1:
        return f"{x:,.3f}".rstrip("0").rstrip(".") if abs(x) < 1e6 else f"{x:,.0f}"
    return f"{x:.3g}"
