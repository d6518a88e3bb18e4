#!/usr/bin/env python3
"""Latency-by-percentile chart (SVG) from HdrHistogram percentile-distribution files.

Reads the .hgrm text that `corvid bench --hdr-out`, HdrHistogram's own tools and
memtier_benchmark write (values in milliseconds), and draws one line per file: latency
(log scale) against percentile, on HdrHistogram's log-scaled percentile axis where 90%,
99%, 99.9% ... are equally far apart, so the tail is as visible as the median.
bench/compare uses it; it also runs alone:

    bench/hgrm_plot.py chart.svg "corvid=run1.hgrm" "memcached=run2.hgrm" [--title T]

The SVG is written by hand (no plotting library to install); any browser shows it, and
`rsvg-convert chart.svg > chart.png` (Debian: librsvg2-bin) makes a PNG.
"""

import math
import sys
from xml.sax.saxutils import escape

# Colour per scenario (or per file), chosen to stay apart for colour-blind readers;
# the server is told apart by the line's dash pattern.
PALETTE = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"]
DASHES = ["", "7,4", "2,3", "10,3,2,3"]

WIDTH, HEIGHT = 980, 600
LEFT, RIGHT, TOP, BOTTOM = 78, 300, 64, 64


def read_hgrm(path):
    """[(percentile in 0..1, latency in microseconds)] for the rows below 100%."""
    points = []
    with open(path) as f:
        for line in f:
            words = line.split()
            if len(words) != 4 or line.startswith("#"):
                continue  # header, blank, footer, or the 100% row (no 1/(1-p) column)
            try:
                value_ms, percentile = float(words[0]), float(words[1])
            except ValueError:
                continue
            points.append((percentile, value_ms * 1000.0))
    return points


def x_of(percentile):
    """HdrHistogram's percentile axis: log10 of 1/(1-p), so 90% is 1, 99% is 2, ..."""
    return math.log10(1.0 / (1.0 - percentile))


def percentile_label(decades):
    if decades == 0:
        return "0%"
    nines = 100.0 - 100.0 / 10 ** decades
    return f"{nines:.{max(decades - 2, 0)}f}%"


def latency_label(us):
    if us >= 1000:
        ms = us / 1000
        return f"{ms:g} ms"
    return f"{us:g} µs"


def chart(series, title, subtitle=""):
    """SVG text for series = [{label, points, colour, dash}]."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    all_points = [p for s in series for p in s["points"]]
    if not all_points:
        raise ValueError("no data points to plot")
    x_max = max(1, min(6, math.ceil(max(x_of(p) for p, _ in all_points) - 1e-9)))
    lo = min(v for _, v in all_points if v > 0)
    hi = max(v for _, v in all_points)
    # Bounds on the 1-2-5 steps the grid uses, as tight around the data as they go.
    steps = [m * 10 ** e for e in range(-3, 10) for m in (1, 2, 5)]
    y_lo = max([s for s in steps if s <= lo] or [steps[0]])
    y_hi = min([s for s in steps if s >= hi * 1.05] or [steps[-1]])
    if y_hi <= y_lo:
        y_hi = y_lo * 10

    def px(percentile):
        return LEFT + plot_w * min(x_of(percentile), x_max) / x_max

    def py(us):
        frac = (math.log10(max(us, y_lo)) - math.log10(y_lo)) / (
            math.log10(y_hi) - math.log10(y_lo))
        return TOP + plot_h * (1 - frac)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, '
           f'sans-serif" font-size="13">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{LEFT}" y="26" font-size="17" font-weight="bold">{escape(title)}</text>']
    if subtitle:
        out.append(f'<text x="{LEFT}" y="46" fill="#555">{escape(subtitle)}</text>')
    # Grid and tick labels: a line per decade of percentile, 1-2-5 steps of latency.
    for decade in range(0, x_max + 1):
        x = LEFT + plot_w * decade / x_max
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">'
                   f'{percentile_label(decade)}</text>')
    decade = 10 ** math.floor(math.log10(y_lo) + 1e-9)
    while decade <= y_hi * 1.0001:
        for step in (1, 2, 5):
            us = decade * step
            if us > y_hi * 1.0001:
                break
            if us < y_lo * 0.9999:
                continue
            y = py(us)
            major = step == 1
            out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" '
                       f'stroke="{"#ccc" if major else "#eee"}"/>')
            out.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" '
                       f'fill="{"#000" if major else "#777"}">{latency_label(us)}</text>')
        decade *= 10
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" '
               f'stroke="#888"/>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 18}" text-anchor="middle">'
               f'percentile (log scale: each step is ten times rarer)</text>')
    out.append(f'<text transform="translate(20 {TOP + plot_h / 2}) rotate(-90)" '
               f'text-anchor="middle">latency (log scale)</text>')
    # The lines, then the legend to the right of the plot.
    for s in series:
        pts = " ".join(f"{px(p):.1f},{py(v):.1f}" for p, v in s["points"] if v > 0)
        dash = f' stroke-dasharray="{s["dash"]}"' if s["dash"] else ""
        out.append(f'<polyline points="{pts}" fill="none" stroke="{s["colour"]}" '
                   f'stroke-width="2" stroke-linejoin="round"{dash}/>')
    ly = TOP + 8
    lx = LEFT + plot_w + 18
    for s in series:
        dash = f' stroke-dasharray="{s["dash"]}"' if s["dash"] else ""
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 34}" y2="{ly}" stroke="{s["colour"]}" '
                   f'stroke-width="2.5"{dash}/>')
        out.append(f'<text x="{lx + 42}" y="{ly + 4}">{escape(s["label"])}</text>')
        ly += 22
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    title = "Latency by percentile"
    if "--title" in argv:
        i = argv.index("--title")
        title = argv[i + 1]
        del argv[i:i + 2]
    if len(argv) < 2:
        sys.exit(__doc__)
    series = []
    for i, spec in enumerate(argv[1:]):
        label, _, path = spec.rpartition("=")
        series.append({"label": label or path, "points": read_hgrm(path),
                       "colour": PALETTE[i % len(PALETTE)], "dash": ""})
    with open(argv[0], "w") as f:
        f.write(chart(series, title))


if __name__ == "__main__":
    main(sys.argv[1:])
