"""Line charts as standalone SVG files, with no dependency: several series over a shared x axis."""

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def nice_ceiling(value):
    """The smallest of 1, 2, 5 × 10^k at or above `value` (an axis' top)."""
    if value <= 0:
        return 1
    magnitude = 1
    while magnitude * 10 <= value:
        magnitude *= 10
    while magnitude > value:
        magnitude /= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= value:
            return step * magnitude
    return 10 * magnitude


def line_chart(path, title, x_label, y_label, series, width=900, height=420):
    """Writes `series` ([(label, [(x, y), ...]), ...]) as a line chart to `path`."""
    left, right, top, bottom = 80, 180, 40, 50
    points = [p for _, data in series for p in data]
    x_max = max((x for x, _ in points), default=1) or 1
    y_max = nice_ceiling(max((y for _, y in points), default=1))
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x):
        return left + plot_w * x / x_max

    def sy(y):
        return top + plot_h * (1 - y / y_max)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15">{title}</text>',
           f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="black"/>',
           f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="black"/>']
    for i in range(6):
        y = y_max * i / 5
        out.append(f'<line x1="{left}" y1="{sy(y):.1f}" x2="{left + plot_w}" y2="{sy(y):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:g}</text>')
        x = x_max * i / 5
        out.append(f'<text x="{sx(x):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{x:g}</text>')
    out.append(f'<text x="{left + plot_w / 2}" y="{height - 10}" text-anchor="middle">{x_label}</text>')
    out.append(f'<text x="16" y="{top + plot_h / 2}" text-anchor="middle" transform="rotate(-90 16 {top + plot_h / 2})">{y_label}</text>')
    for index, (label, data) in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        if data:
            line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in data)
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{line}"/>')
        out.append(f'<rect x="{left + plot_w + 14}" y="{top + 16 * index}" width="12" height="3" fill="{colour}"/>')
        out.append(f'<text x="{left + plot_w + 32}" y="{top + 16 * index + 5}">{label}</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))
