#!/usr/bin/env python3
"""Turns `tmux capture-pane -e -p` output (text with SGR colour codes) into
an SVG picture of the terminal, so README screenshots come from the real
TUI and can be regenerated. Usage: ansi2svg.py < capture.txt > out.svg"""
import html
import re
import sys

PALETTE = ["#1d1f21", "#cc6666", "#b5bd68", "#f0c674", "#81a2be", "#b294bb", "#8abeb7", "#c5c8c6",
           "#666666", "#d54e53", "#b9ca4a", "#e7c547", "#7aa6da", "#c397d8", "#70c0b1", "#eaeaea"]
FG, BG = "#c5c8c6", "#1d1f21"
CW, LH, FS = 8.4, 18, 14
SGR = re.compile(r"\x1b\[([0-9;]*)m")


def xterm256(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (steps[n // 36], steps[n // 6 % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return "#%02x%02x%02x" % (v, v, v)


def apply(style, params):
    codes = [int(p) if p else 0 for p in params.split(";")] if params else [0]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            style.clear()
        elif c in (1, 2, 7, 9):
            style[c] = True
        elif c == 22:
            style.pop(1, None); style.pop(2, None)
        elif c == 27:
            style.pop(7, None)
        elif 30 <= c <= 37 or 90 <= c <= 97:
            style["fg"] = PALETTE[c - 30 if c < 90 else c - 82]
        elif 40 <= c <= 47 or 100 <= c <= 107:
            style["bg"] = PALETTE[c - 40 if c < 100 else c - 92]
        elif c in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
            style["fg" if c == 38 else "bg"] = xterm256(codes[i + 2]); i += 2
        elif c == 39:
            style.pop("fg", None)
        elif c == 49:
            style.pop("bg", None)
        i += 1


def cells(line, style):
    out, pos = [], 0
    for m in SGR.finditer(line):
        out.extend((ch, dict(style)) for ch in line[pos:m.start()])
        apply(style, m.group(1))
        pos = m.end()
    out.extend((ch, dict(style)) for ch in line[pos:])
    return out


def colours(st):
    fg, bg = st.get("fg", FG), st.get("bg", None)
    if st.get(7):
        fg, bg = (bg or BG), fg
    if st.get(2):
        fg = "#808080"
    return fg, bg


def main():
    lines = sys.stdin.read().rstrip("\n").split("\n")
    style, rows = {}, []
    for line in lines:
        rows.append(cells(line, style))
    width = max(len(r) for r in rows)
    w, h = int(width * CW + 20), len(rows) * LH + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}">',
           f'<rect width="100%" height="100%" rx="6" fill="{BG}"/>',
           f'<g font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FS}">']
    for y, row in enumerate(rows):
        top = 10 + y * LH
        x = 0
        while x < len(row):
            _, bg = colours(row[x][1])
            start = x
            while x < len(row) and colours(row[x][1])[1] == bg:
                x += 1
            if bg:
                out.append(f'<rect x="{10 + start * CW:.1f}" y="{top}" width="{(x - start) * CW:.1f}" '
                           f'height="{LH}" fill="{bg}" shape-rendering="crispEdges"/>')
        x = 0
        while x < len(row):
            ch, st = row[x]
            start, text = x, ""
            while x < len(row) and row[x][1] == st:
                text += row[x][0]; x += 1
            if text.strip():
                fg, _ = colours(st)
                extra = ' font-weight="bold"' if st.get(1) else ""
                extra += ' text-decoration="line-through"' if st.get(9) else ""
                out.append(f'<text x="{10 + start * CW:.1f}" y="{top + 14}" fill="{fg}"{extra} '
                           f'xml:space="preserve" textLength="{len(text) * CW:.1f}">{html.escape(text)}</text>')
    out.append("</g></svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
