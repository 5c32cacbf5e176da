"""`pocketgan report`: one self-contained HTML page (images embedded, no script, nothing fetched).

For a run folder (runs/NAME/report.html), whether training worked: a summary line (objective,
progress, health tally), then pictures (loss curves, sample grids over training), then the numbers
(health checks, FID/KID over training, evaluation results, model sizes), the config last, collapsed.
For a model (report-NAME.html): what it does, its size and speed, then before/after pictures (the
user's photos first), its scores beside doing nothing, then its card (data, recipe, stages, notes)."""
from __future__ import annotations

import base64
import html
import io
import json
import math
import re
import time
from pathlib import Path

from PIL import Image

from .directions import DIRECTION_NAMES, DIRECTIONS
from .fileio import atomic_write_bytes, read_json
from .summary import describe
from .training.objectives import ObjectiveSpec, get_objective


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a crash
    return out


CHART_DPI = 150  # shown at 100 px an inch: sharp on high-density screens


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=CHART_DPI, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def run_objective(run: Path) -> ObjectiveSpec:
    """The registry entry of the objective a run folder trained (from its train_config.json)."""
    from .training.config import ConfigError, read_run_config
    from .training.run import RunFolder, TrainingError

    folder = RunFolder(run)
    try:
        saved = read_json(folder.config)
    except (OSError, ValueError):
        raise TrainingError(f"{folder.config}: missing or unreadable; not a pocketgan run folder") from None
    try:
        return get_objective(read_run_config(saved, folder.config).model)
    except ConfigError as e:
        raise TrainingError(str(e)) from None


def loss_figure(metrics: list[dict], spec: ObjectiveSpec) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = spec.loss_groups
    n = len(groups) + 1  # one chart per loss group, and the learning rate; at most 3 a row (readable when shown)
    ncols = min(n, 3)
    nrows = -(-n // ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
    axes = list(grid.flat)
    for ax in axes[n:]:
        ax.set_visible(False)
    steps = [m["step"] for m in metrics]
    for ax, (title, keys) in zip(axes, groups, strict=False):  # the axes after the groups': the LR, hidden ones
        for k in keys:
            if any(k in m for m in metrics):
                ax.plot(steps, [m.get(k, math.nan) for m in metrics], label=k, lw=1)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    lr_ax = axes[n - 1]
    lr_ax.plot(steps, [m["lr"] for m in metrics], color="k", lw=1)
    lr_ax.set_title("learning rate")
    lr_ax.set_xlabel("step")
    lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    fig.tight_layout()
    data = _png(fig)
    plt.close(fig)
    return data


def eval_figure(evals: list[dict]) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (k_ax, f_ax) = plt.subplots(1, 2, figsize=(9, 3.2))
    steps = [e["step"] for e in evals]
    for d in DIRECTION_NAMES:
        if d not in evals[0]:
            continue
        k_ax.errorbar(steps, [e[d]["kid_x1000"] for e in evals], yerr=[e[d]["kid_x1000_std"] for e in evals],
                      label=d, capsize=2, marker="o", ms=3)
        f_ax.plot(steps, [e[d]["fid"] for e in evals], label=d, marker="o", ms=3)
    for ax, t in ((k_ax, "KID x1000 (test subset)"), (f_ax, "FID (test subset)")):
        ax.set_title(t)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    data = _png(fig)
    plt.close(fig)
    return data


def health_checks(metrics: list[dict], evals: list[dict], results: dict | None = None,
                  spec: ObjectiveSpec | None = None) -> list[tuple[str, str]]:
    """(status, message) pairs: 'ok', 'warn' or 'bad'. ``results``: eval.json of `pocketgan evaluate`;
    ``spec``: the run's objective (default CycleGAN), whose registry entry names the losses that
    must fall and the discriminators' losses."""
    spec = spec or get_objective("cyclegan")
    checks: list[tuple[str, str]] = []
    for key, r in (results or {}).items():  # the decisive one: better than not translating at all?
        t, n = r["translated"]["kid_x1000"], r["do_nothing"]["kid_x1000"]
        status = "ok" if t < n else "bad"
        verdict = ("closer to the real target domain than the untranslated inputs" if t < n
                   else "further from the target domain than the untranslated inputs: not a useful translator yet")
        checks.append((status, f"evaluate {key}: KID x1000 {t:.2f} translated vs {n:.2f} doing nothing; {verdict}"))
    if not metrics:
        return checks + [("bad", "no losses logged yet (metrics.jsonl is empty)")]
    if any(not math.isfinite(v) for m in metrics for k, v in m.items() if isinstance(v, float)):
        checks.append(("bad", "a loss became NaN/inf: training diverged"))
    n = max(1, len(metrics) // 10)
    first, last = metrics[:n], metrics[-n:]
    def mean(rows: list[dict], k: str) -> float:
        return sum(r[k] for r in rows) / len(rows)

    for k in spec.health_losses:
        if k not in first[0] or k not in last[0]:
            continue
        a, b = mean(first, k), mean(last, k)
        drop = (a - b) / a * 100 if a else 0.0
        status = "ok" if drop > 30 else ("warn" if drop > 0 else "bad")
        trend = f"{drop:.0f}% lower: the generator learns" if drop > 0 else f"{-drop:.0f}% higher: the generator does not learn"
        checks.append((status, f"{k} loss {a:.3f} → {b:.3f} ({trend})"))
    for keys in spec.discriminator_losses:
        if any(k not in last[0] for k in keys):
            continue
        k = " + ".join(keys)
        d = sum(mean(last, key) for key in keys) / len(keys)
        if d < 0.02:
            checks.append(("warn", f"{k} loss {d:.3f}: the discriminator wins outright; the generator may have collapsed"))
        else:
            checks.append(("ok", f"{k} loss {d:.3f}: discriminator and generator still compete"))
    if evals:
        best = min(evals, key=lambda e: e["mean_kid_x1000"])
        checks.append(("ok" if best["mean_kid_x1000"] < evals[0]["mean_kid_x1000"] else "warn",
                       f"test-subset KID x1000 (mean over directions): first {evals[0]['mean_kid_x1000']:.2f}, "
                       f"best {best['mean_kid_x1000']:.2f} at step {best['step']}, last {evals[-1]['mean_kid_x1000']:.2f}"))
    return checks


# --- the HTML page ------------------------------------------------------------------------------------
# Both reports are one self-contained file (every image embedded as a data: URL, no script, no
# outside resource), in the order a person reads them: a summary line, pictures, the numbers, and
# the details (card, config) last. Every string from a file, a card or a config goes through _e.

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;line-height:1.45;color:#1f2328;max-width:1120px;
 margin:1.5em auto;padding:0 1em}
h1{font-size:1.7em;margin:.2em 0}h2{margin-top:1.8em;border-bottom:1px solid #d0d7de;padding-bottom:.2em}
h3{margin:1.2em 0 .4em}
.summary{font-size:1.08em;margin:.4em 0}
ul.facts{list-style:none;padding:0;margin:.6em 0;display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em}
ul.facts li{display:contents}ul.facts b{color:#57606a;font-weight:600}
nav{margin:.8em 0;color:#57606a}nav a{margin-right:1em}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:.4em 0}td,th{border:1px solid #d0d7de;padding:3px 9px;text-align:left;
 vertical-align:top}th{background:#f6f8fa;white-space:nowrap}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.kv th{width:11em;background:none;color:#57606a;font-weight:600}
table.pics{border:none}table.pics td,table.pics th{border:none;padding:2px 4px;background:none;text-align:center}
table.pics th{white-space:normal;vertical-align:bottom}table.pics th.sep,table.pics td.sep{width:1.2em}
table.pics img{width:min(256px,calc(90vw / var(--n,3)));max-width:none;height:auto;display:block;margin:auto}
figure{margin:.8em 0}figcaption{color:#57606a;font-size:.92em}
table.pics figure{margin:0}
table.pics figcaption{word-break:break-all;max-width:min(256px,calc(90vw / var(--n,3)));margin:2px auto 0}
img{max-width:100%;height:auto}img.grid{image-rendering:pixelated}
.gallery{display:flex;flex-wrap:wrap;gap:0 1.5em}.gallery figure{margin:.5em 0}
.nowrap,td.num{white-space:nowrap}th.group{text-align:center}small{color:#57606a}
table.scores td b{font-weight:600}table.scores th{white-space:normal}
.better{color:#1a7f37;font-weight:600}.worse{color:#c62828;font-weight:600}
.ok{color:#1a7f37}.warn{color:#b26a00}.bad{color:#c62828}
ul.checks{list-style:none;padding-left:0}ul.checks li{margin:.15em 0;padding-left:3.6em;text-indent:-3.6em}
ul.checks b{display:inline-block;min-width:3.6em;text-indent:0}
dl.config{columns:3 16em;column-gap:2em;margin:.5em 0}dl.config div{break-inside:avoid;display:flex;gap:.6em;
 border-bottom:1px solid #eaeef2;padding:1px 0}dl.config dt{font-family:ui-monospace,monospace;font-size:.9em;
 color:#57606a;min-width:9.5em}dl.config dd{margin:0;word-break:break-word}
ul.notes li{margin:.3em 0}
pre{background:#f6f8fa;padding:.6em .8em;white-space:pre-wrap;word-break:break-word;font-size:.88em}
details{margin:.6em 0}summary{cursor:pointer;color:#0969da}
.muted{color:#57606a;font-size:.92em}
"""


def _e(value) -> str:
    """``value`` as HTML text: escaped, with the cards' ASCII arrows as arrows."""
    return html.escape(str(value)).replace("&lt;-&gt;", "↔").replace("-&gt;", "→")


def _page(title: str, parts: list[str]) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(title)} · pocketgan</title><style>{STYLE}</style></head>"
            f"<body>{''.join(parts)}</body></html>")


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{title}</h2>{body}</section>'


def _nav(sections: list[tuple[str, str]]) -> str:
    return "<nav>" + "".join(f'<a href="#{sid}">{title}</a>' for sid, title in sections) + "</nav>"


def _duration(seconds: float) -> str:
    """``seconds`` as a person says it: 42 s, 3 min 20 s, 57 min, 1 h 41 min."""
    s = round(seconds)
    if s < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{s} s"
    if s < 600:
        return f"{s // 60} min {s % 60:02d} s"
    if s < 3600:
        return f"{round(seconds / 60)} min"
    h, m = divmod(round(seconds / 60), 60)
    return f"{h} h {m:02d} min"


def _number(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.6g}" if abs(v) >= 1000 else f"{v:.6g}"
    return _e("—" if v is None or v == "" else v)


def _label(key: str) -> str:
    return _e(key.replace("_", " ").strip().capitalize())


def _value(v) -> str:
    """Any JSON value as readable HTML (never raw JSON): a table for a dict or a list of dicts, a list
    for a list, escaped text for the rest."""
    if isinstance(v, dict):
        return "<table class='kv'>" + "".join(f"<tr><th>{_label(str(k))}</th><td>{_value(x)}</td></tr>"
                                             for k, x in v.items()) + "</table>"
    if isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
        keys = list(dict.fromkeys(k for x in v for k in x))
        head = "".join(f"<th>{_label(str(k))}</th>" for k in keys)
        rows = "".join("<tr>" + "".join(f"<td>{_value(x.get(k))}</td>" for k in keys) + "</tr>" for x in v)
        return f"<div class='scroll'><table><tr>{head}</tr>{rows}</table></div>"
    if isinstance(v, list):
        return ", ".join(_value(x) for x in v) if all(not isinstance(x, (dict, list)) for x in v) else \
            "<ul>" + "".join(f"<li>{_value(x)}</li>" for x in v) + "</ul>"
    return _number(v)


def _img(data: bytes, alt: str, cls: str = "", width: int | None = None, mime: str = "image/png") -> str:
    c = f' class="{cls}"' if cls else ""
    w = f' width="{width}"' if width else ""
    return f'<img{c}{w} alt="{_e(alt)}" src="data:{mime};base64,{base64.b64encode(data).decode()}">'


def _chart(b64: str, alt: str) -> str:
    """A matplotlib PNG (from :func:`_png`) at its intended size: 100 CSS px an inch, never wider than the page."""
    data = base64.b64decode(b64)
    with Image.open(io.BytesIO(data)) as im:
        width = round(im.width * 100 / CHART_DPI)
    return _img(data, alt, "chart", width)


def _png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _size_table(info: dict, heading: str, sid: str = "size") -> str:
    """Params, GMACs and MB of each network, from :func:`pocketgan.summary.describe`."""
    rows = "".join(f"<tr><td>{_e(name)}</td><td>{_e(n['arch'])}</td><td class='num'>{n['params']:,}</td>"
                   f"<td class='num'>{n['macs'] / 1e9:.2f}</td><td class='num'>{n['megabytes']:.2f}</td></tr>"
                   for name, n in info["networks"].items())
    return _section(sid, heading, "<div class='scroll'><table><tr><th>network</th><th>architecture</th>"
                    f"<th class='num'>parameters</th><th class='num'>GMACs at {info['image_size']}×{info['image_size']}</th>"
                    f"<th class='num'>MB (fp32)</th></tr>{rows}</table></div>")


def split_score_key(key: str) -> tuple[str, str, float]:
    """An eval.json key (written by `pocketgan evaluate`) -> (direction, convention, strength):
    "AtoB/clean@1.5" -> ("AtoB", "clean", 1.5); no strength is 1, an unreadable one NaN."""
    key, _, strength = key.partition("@")
    direction, _, convention = key.partition("/")
    try:
        s = float(strength) if strength else 1.0
    except ValueError:
        s = math.nan
    return direction, convention, s


def _direction_label(direction: str, domains: dict) -> str:
    d = DIRECTIONS.get(direction)
    if d is None:
        return _e(direction)
    src, tgt = domains.get(d.source, d.source), domains.get(d.target, d.target)
    if (src, tgt) == (d.source, d.target):
        return _e(d.label)
    return f"<span class='nowrap'>{_e(src)} → {_e(tgt)}</span> <span class='muted nowrap'>({_e(d.label)})</span>"


def _scores_table(results: dict, domains: dict) -> str:
    """Measured scores beside doing nothing: a card's ``evaluation`` or an eval.json (`pocketgan evaluate`),
    one row per direction / convention / strength. Lower KID and FID are better."""
    entries = []
    for key, r in results.items():
        try:
            tr, dn = r["translated"], r["do_nothing"]
            t_kid, n_kid = float(tr["kid_x1000"]), float(dn["kid_x1000"])
        except (KeyError, TypeError, ValueError):
            continue
        entries.append((*split_score_key(str(key)), r, tr, dn, t_kid, n_kid))
    if not entries:
        return ""
    conventions = {c for _, c, *_ in entries}
    strengths = any(st != 1.0 for _, _, st, *_ in entries)
    cycle = any(isinstance(r.get("cycle"), dict) and "psnr" in r["cycle"] for *_, r, _, _, _, _ in entries)

    def kid(s: dict) -> str:
        std = s.get("kid_x1000_std")
        return f"{float(s['kid_x1000']):.2f}" + (f" <small>± {float(std):.2f}</small>" if std is not None else "")

    def fid(s: dict) -> str:
        return f"{float(s['fid']):.2f}" if isinstance(s.get("fid"), (int, float)) else "—"

    rows = []
    for direction, convention, strength, r, tr, dn, t_kid, n_kid in entries:
        images = r.get("test_images") or (f"{r['n_source']} → {r['n_target']}" if "n_source" in r else "—")
        if t_kid < n_kid:
            verdict = "<span class='better'>better</span>" + (f", KID −{(n_kid - t_kid) / n_kid * 100:.0f}%" if n_kid else "")
        else:
            verdict = "<span class='worse'>worse</span>" + (f", KID +{(t_kid - n_kid) / n_kid * 100:.0f}%" if n_kid else "")
        ch = r.get("change") if isinstance(r.get("change"), dict) else {}
        mean = f"{float(ch['mean_abs']):.1f}" if "mean_abs" in ch else "—"
        moved = f"{float(ch['over_10']) * 100:.0f}%" if "over_10" in ch else "—"
        cells = [f"<td>{_direction_label(direction, domains)}</td>"]
        if strengths:
            cells.append(f"<td class='num'>{strength:g}</td>")
        if len(conventions) > 1:
            cells.append(f"<td>{_e(convention)}</td>")
        cells += [f"<td class='num'>{_e(images)}</td>", f"<td class='num'><b>{kid(tr)}</b></td>",
                  f"<td class='num'>{kid(dn)}</td>", f"<td class='num'><b>{fid(tr)}</b></td>",
                  f"<td class='num'>{fid(dn)}</td>", f"<td class='nowrap'>{verdict}</td>",
                  f"<td class='num'>{mean}</td>", f"<td class='num'>{moved}</td>"]
        if cycle:
            c = r.get("cycle") if isinstance(r.get("cycle"), dict) else {}
            cells.append(f"<td class='num'>{float(c['psnr']):.2f} dB</td>" if "psnr" in c else "<td>—</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    lead = (["<th rowspan='2'>direction</th>"] + (["<th rowspan='2' class='num'>strength</th>"] if strengths else [])
            + (["<th rowspan='2'>convention</th>"] if len(conventions) > 1 else [])
            + ["<th rowspan='2' class='num'>test images<br><small>source → target</small></th>",
               "<th colspan='2' class='group'>KID×1000</th>", "<th colspan='2' class='group'>FID</th>",
               "<th rowspan='2'>vs doing<br>nothing</th>", "<th colspan='2' class='group'>change of the photo</th>"]
            + (["<th rowspan='2' class='num'>cycle<br>PSNR</th>"] if cycle else []))
    sub = ("<th class='num'>model</th><th class='num'>do nothing</th>" * 2
           + "<th class='num'>mean /255</th><th class='num'>values moved<br>by &gt; 10</th>")
    which = next(iter(conventions)) if len(conventions) == 1 else ""
    return ("<div class='scroll'><table class='scores'><tr>" + "".join(lead) + f"</tr><tr>{sub}</tr>" + "".join(rows)
            + "</table></div><p class='muted'>Lower KID and FID are better. <i>Do nothing</i> scores the untranslated "
            "inputs against the target domain's test photos: a translator is useful only below it. KID×1000 is the "
            "kernel inception distance times 1000 (± its spread over subsets)"
            + (f"; {_e(which)} resize convention" if which else "")
            + ("; strength 1 is the model as trained (translate --strength)" if strengths else "") + ".</p>")


# --- a run's report -------------------------------------------------------------------------------------

def _health_list(checks: list[tuple[str, str]]) -> str:
    return "<ul class='checks'>" + "".join(f"<li><b class='{status}'>{status.upper()}</b> {_e(msg)}</li>"
                                            for status, msg in checks) + "</ul>"


def _tally(checks: list[tuple[str, str]]) -> str:
    counts = {s: sum(1 for c, _ in checks if c == s) for s in ("ok", "warn", "bad")}
    names = {"ok": "ok", "warn": "warning", "bad": "failing"}
    return ", ".join(f"<span class='{s}'>{n} {names[s]}{'s' if n != 1 and s == 'warn' else ''}</span>"
                     for s, n in counts.items() if n)


def build_report(run: str | Path, max_grids: int = 8) -> Path:
    """runs/NAME/report.html: a summary line, then pictures (loss curves, sample grids over training), then
    the numbers (health checks, FID/KID over training, `pocketgan evaluate` results, sizes), config last."""
    run = Path(run)
    spec = run_objective(run)
    info = describe(run)
    metrics = [m for m in read_jsonl(run / "metrics.jsonl") if "lr" in m]
    evals = read_jsonl(run / "eval.jsonl")
    grids = sorted((run / "samples").glob("step_*.png"), key=_grid_step)
    n_grids = len(grids)
    if len(grids) > max_grids:  # evenly spaced, always the first and the last
        idx = sorted({round(i * (len(grids) - 1) / (max_grids - 1)) for i in range(max_grids)})
        grids = [grids[i] for i in idx]
    eval_json = run / "eval.json"
    results = read_json(eval_json) if eval_json.is_file() else {}
    checks = health_checks(metrics, evals, results, spec)

    t = info.get("training") or {}
    facts = [("Objective", f"{_e(spec.name)} — {_e(spec.summary)}")]
    if "of_total_steps" in t:
        done = t["epochs_completed"] >= t["of_total_epochs"]
        progress = (f"finished: {t['steps']:,} steps, {t['epochs_completed']} epochs" if done else
                    f"{t['steps']:,} of {t['of_total_steps']:,} steps (epoch {t['epochs_completed'] + 1} of "
                    f"{t['of_total_epochs']}): not finished")
        facts.append(("Training", f"{progress}; {_duration(t['train_seconds'])} of training steps"))
    nets = info["networks"]
    gens = {k: n for k, n in nets.items() if k.startswith("G")}
    if gens:
        facts.append(("Generator" + ("s" if len(gens) > 1 else ""),
                      "; ".join(f"{_e(k)}: {n['params']:,} parameters, {n['macs'] / 1e9:.2f} GMACs at "
                                f"{info['image_size']}×{info['image_size']}" for k, n in gens.items())))
    if checks:
        facts.append(("Health", f"<a href='#scores'>{_tally(checks)}</a>"))

    sections: list[tuple[str, str, str]] = []  # (id, title, body)
    if metrics:
        sections.append(("losses", "Loss curves",
                         _chart(loss_figure(metrics, spec), "loss curves")))
    if grids:
        cols = " | ".join(spec.visual_names)
        shown = f"{len(grids)} of {n_grids} grids, evenly spaced" if n_grids > len(grids) else f"{n_grids} grids"
        body = [f"<p>Each grid: one row per sample image; columns <b>{_e(cols)}</b>. Oldest first ({shown}).</p>"]
        body.append("<div class='gallery'>")
        for g in grids:
            step, data = _grid_step(g), g.read_bytes()
            try:
                with Image.open(io.BytesIO(data)) as im:
                    width = im.width * 2 if im.width <= 480 else im.width  # small toy grids: pixels doubled
            except OSError:
                width = None
            body.append(f"<figure>{_img(data, f'samples at step {step}', 'grid', width)}"
                        f"<figcaption>step {step:,}</figcaption></figure>")
        body.append("</div>")
        sections.append(("samples", "Samples over training", "".join(body)))
    numbers = [f"<h3>Health checks</h3>{_health_list(checks)}"]
    if evals:
        images = evals[-1].get("images")
        if isinstance(images, dict):
            images = ", ".join(f"{_e(k)}: {_number(v)}" for k, v in images.items())
        numbers.append(f"<h3>FID / KID over training</h3><p>On a test subset ({_e(images)} images per domain; "
                       f"{_e(evals[-1].get('convention', ''))} convention). Lower is better.</p>"
                       + _chart(eval_figure(evals), "FID and KID over training"))
    if results:
        numbers.append("<h3>Evaluation (pocketgan evaluate)</h3>" + _scores_table(results, {}))
    sections.append(("scores", "Scores and health checks", "".join(numbers)))
    size = _size_table(info, "Model size")
    if info.get("config"):
        cfg = info["config"]
        items = "".join(f"<div><dt>{_e(k)}</dt><dd>{_value(v)}</dd></div>" for k, v in cfg.items())
        config = (f"<details><summary>training config: {len(cfg)} settings (train_config.json)</summary>"
                  f"<dl class='config'>{items}</dl></details>")
    else:
        config = ""

    nav = [(sid, title) for sid, title, _ in sections] + [("size", "Model size")] + ([("config", "Config")] if config else [])
    parts = [f"<header><h1>pocketgan run: {_e(run.name)}</h1>", _facts(facts), _nav(nav), "</header>"]
    parts += [_section(sid, title, body) for sid, title, body in sections]
    parts.append(size)
    if config:
        parts.append(_section("config", "Config", config))
    page = _page(run.name, parts)
    out = run / "report.html"
    atomic_write_bytes(out, page.encode())
    return out


def _grid_step(g: Path) -> int:
    try:
        return int(g.stem.split("_")[1])
    except (IndexError, ValueError):
        return -1


def _facts(facts: list[tuple[str, str]]) -> str:
    """Label: value lines; values are HTML already (escaped by the caller)."""
    return "<ul class='facts'>" + "".join(f"<li><b>{_e(k)}</b><span>{v}</span></li>" for k, v in facts) + "</ul>"


# --- a model's report -----------------------------------------------------------------------------------

def translation_pairs(model: str | Path, size: int = 256, photos: list[Path] | None = None, scenes: int = 3) -> dict:
    """What a model does, as images: for each direction it holds, (input, translation) pairs of its own
    synthetic scenes (``render_scene``: summer-style inputs for AtoB, winter-style for BtoA) and of the
    user's ``photos`` (each shrunk to fit ``size``). Also the seconds of one translation of a ``size``×``size``
    scene on this CPU (PyTorch): the fastest, the least disturbed by other work on the machine, of the
    calls after each direction's first (``timed``: how many)."""
    from .data.images import load_image
    from .data.synthetic import render_scene
    from .inference.pipeline import TranslationPipeline
    from .models.pretrained import read_model_config

    gens = read_model_config(model)["generators"]
    directions = [name for name, d in DIRECTIONS.items() if d.slot in gens]
    own = []
    for p in photos or []:
        im = load_image(p)
        im.thumbnail((size, size))
        own.append((Path(p).name, im))
    out: dict = {"directions": directions, "scenes": {}, "photos": {}, "seconds": None, "timed": 0}
    times = []
    for name in directions:
        pipe = TranslationPipeline.from_pretrained(model, name, device="cpu", max_side=None)
        inputs = [render_scene(s, size, DIRECTIONS[name].source) for s in range(scenes)]
        results = []
        for i, im in enumerate(inputs):
            t0 = time.perf_counter()
            results.append((im, pipe(im)))
            if i:
                times.append(time.perf_counter() - t0)
        out["scenes"][name] = results
        out["photos"][name] = [(label, im, pipe(im)) for label, im in own]
    if times:
        out["seconds"], out["timed"] = min(times), len(times)
    return out


def _compose(pairs: dict, size: int) -> Image.Image:
    """One picture: a column pair (input | translated) per direction; the scenes' rows, then the photos'."""
    from PIL import ImageDraw

    directions = pairs["directions"]
    header = 16
    rows = max(len(pairs["scenes"][d]) + len(pairs["photos"][d]) for d in directions)
    fig = Image.new("RGB", (2 * size * len(directions), header + rows * size), "white")
    draw = ImageDraw.Draw(fig)
    for c, d in enumerate(directions):
        draw.text((2 * c * size + 4, 2), f"{d}: input", fill="black")
        draw.text(((2 * c + 1) * size + 4, 2), f"{d}: translated", fill="black")
        ims = pairs["scenes"][d] + [(a, b) for _, a, b in pairs["photos"][d]]
        for r, (a, b) in enumerate(ims):
            fig.paste(a, (2 * c * size, header + r * size))
            fig.paste(b, ((2 * c + 1) * size, header + r * size))
    return fig


def translation_figure(model: str | Path, size: int = 256, photos: list[Path] | None = None, scenes: int = 3) -> Image.Image:
    """Before/after pairs a model may be shown with: its own synthetic scenes and, if given, the user's
    own photos. One row per input: input | translation, for each direction the model holds."""
    return _compose(translation_pairs(model, size, photos, scenes), size)


def _pictures(pairs: dict, domains: dict, size: int) -> str:
    directions = pairs["directions"]
    heads = {d: _direction_label(d, domains) for d in directions}
    body = []
    first = pairs["photos"][directions[0]] if directions else []
    if first:
        head = "<th>your photo</th>" + "".join(f"<th>{heads[d]}</th>" for d in directions)
        rows = []
        for i, (name, im, _) in enumerate(first):
            cells = [f"<td><figure>{_img(_png_bytes(im), name)}<figcaption>{_e(name)}</figcaption></figure></td>"]
            for d in directions:
                _, _, translated = pairs["photos"][d][i]
                cells.append(f"<td>{_img(_png_bytes(translated), f'{name}, {d}')}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        body.append(f"<h3>Your photos</h3><p>Each row: your photo (shrunk to fit {size}×{size}), then what each "
                    "direction makes of it.</p>"
                    f"<div class='scroll'><table class='pics' style='--n:{1 + len(directions)}'><tr>{head}</tr>"
                    f"{''.join(rows)}</table></div>")
    if directions:
        head, rows = [], []
        for j, d in enumerate(directions):
            dd = DIRECTIONS[d]
            sep = "<th class='sep'></th>" if j else ""
            head.append(f"{sep}<th>{_e(domains.get(dd.source, dd.source))} scene (input)</th><th>{heads[d]}</th>")
        n = max(len(pairs["scenes"][d]) for d in directions)
        for r in range(n):
            cells = []
            for j, d in enumerate(directions):
                if j:
                    cells.append("<td class='sep'></td>")
                if r < len(pairs["scenes"][d]):
                    a, b = pairs["scenes"][d][r]
                    cells.append(f"<td>{_img(_png_bytes(a), f'scene {r + 1}, {d} input')}</td>"
                                 f"<td>{_img(_png_bytes(b), f'scene {r + 1}, {d} translated')}</td>")
                else:
                    cells.append("<td></td><td></td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        body.append(f"<h3>pocketgan's synthetic scenes</h3><p>Drawn by pocketgan ({size}×{size}), for every model the "
                    "same: input, then translation.</p>"
                    f"<div class='scroll'><table class='pics' style='--n:{2 * len(directions)}'><tr>{''.join(head)}</tr>"
                    f"{''.join(rows)}</table></div>")
    return "".join(body)


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'])")
_LEAD = re.compile(r"^((?:[^:;.]|\.(?=\S)){2,42}):\s")


def _notes(text: str) -> str:
    """A card's notes, one long string, as bullets: its paragraphs, each split into sentences; a short
    lead before a colon ("Recipe: ...") in bold."""
    items = []
    for para in re.split(r"\n\s*\n", str(text).strip()):
        lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
        if lines and all(ln.startswith(("- ", "* ")) for ln in lines):
            items += [ln[2:] for ln in lines]
        else:
            items += [s for s in _SENTENCE.split(" ".join(lines)) if s]
    out = []
    for s in items:
        m = _LEAD.match(s)
        if m and m.group(1).count("(") == m.group(1).count(")"):
            out.append(f"<li><b>{_e(m.group(1))}:</b> {_e(s[m.end():])}</li>")
        else:
            out.append(f"<li>{_e(s)}</li>")
    return "<ul class='notes'>" + "".join(out) + "</ul>"


_CARD_ORDER = ("data", "objective", "image_size", "steps", "epochs", "batch_size", "train_minutes", "hardware")
_CARD_LABELS = {"objective": "Recipe", "image_size": "Image size", "batch_size": "Batch size",
                "train_minutes": "Training time", "lr": "Learning rate"}


def _card_value(key: str, v) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if key.endswith("_minutes"):  # the card's own figure beside it once hours make it less plain
            return _e(_duration(v * 60)) + (f" <span class='muted'>({_number(v)} min)</span>" if v >= 60 else "")
        if key.endswith("_seconds"):
            return _e(_duration(v))
        if key.endswith("_hours"):
            return _e(_duration(v * 3600))
    return _value(v)


def _stages(stages: list) -> str:
    """One row per training stage: what it trained on, epochs, steps, learning rate, time; the commands
    below, to copy."""
    rows, commands = [], []
    keys = list(dict.fromkeys(k for s in stages if isinstance(s, dict) for k in s if k != "command"))
    order = [k for k in ("image_size", "epochs", "steps", "lr", "train_minutes") if k in keys]
    keys = order + [k for k in keys if k not in order]
    labels = {"image_size": "trained on", "train_minutes": "time", "lr": "learning rate"}
    head = "<th>stage</th>" + "".join(f"<th>{_e(labels.get(k, k.replace('_', ' ')))}</th>" for k in keys)
    for i, s in enumerate(stages, 1):
        if not isinstance(s, dict):
            rows.append(f"<tr><td>{i}</td><td colspan='{len(keys)}'>{_value(s)}</td></tr>")
            continue
        cells = "".join(f"<td{' class=num' if isinstance(s.get(k), (int, float)) else ''}>"
                        f"{_card_value(k, s[k]) if k in s else '—'}</td>" for k in keys)
        rows.append(f"<tr><td>{i}</td>{cells}</tr>")
        if s.get("command"):
            commands.append(f"<p>Stage {i}:</p><pre><code>{_e(s['command'])}</code></pre>")
    out = f"<div class='scroll'><table><tr>{head}</tr>{''.join(rows)}</table></div>"
    if commands:
        out += f"<details><summary>commands to reproduce the stages</summary>{''.join(commands)}</details>"
    return out


def _card(card: dict) -> str:
    rows = []
    keys = [k for k in _CARD_ORDER if k in card] + [k for k in card if k not in _CARD_ORDER]
    for k in keys:
        if k in ("evaluation", "stages", "notes", "command"):
            continue
        rows.append(f"<tr><th>{_e(_CARD_LABELS.get(k, k.replace('_', ' ').capitalize()))}</th>"
                    f"<td>{_card_value(k, card[k])}</td></tr>")
    out = [f"<table class='kv'>{''.join(rows)}</table>"] if rows else []
    stages = card.get("stages")
    if isinstance(stages, list) and stages:
        out.append(f"<h3>Training stages</h3>{_stages(stages)}")
    if card.get("command") and not (isinstance(stages, list) and any(isinstance(s, dict) and s.get("command")
                                                                     for s in stages)):
        out.append(f"<h3>Command</h3><pre><code>{_e(card['command'])}</code></pre>")
    if card.get("notes"):
        out.append(f"<h3>Notes</h3>{_notes(card['notes'])}")
    return "".join(out)


def _headline(results: dict, domains: dict) -> str:
    """The strength-1 scores in one line: KID×1000 translated vs doing nothing, per direction."""
    parts = []
    for key, r in results.items():
        direction, _, strength = split_score_key(str(key))
        try:
            t, n = float(r["translated"]["kid_x1000"]), float(r["do_nothing"]["kid_x1000"])
        except (KeyError, TypeError, ValueError):
            continue
        if strength == 1.0:
            word = "better" if t < n else "worse"
            parts.append(f"{_direction_label(direction, domains)}: KID×1000 {t:.2f} vs {n:.2f} doing nothing "
                         f"(<span class='{word}'>{word}</span>)")
    return "; ".join(parts) + (" — <a href='#scores'>all scores</a>" if parts else "")


def build_model_report(model: str | Path, out: str | Path, photos: list[Path] | None = None,
                       figure: str | Path | None = None, size: int = 256) -> Path:
    """A report for a model folder (bundled, imported or trained), in reading order: a summary line (what
    it does, size, speed), before/after pictures (the user's ``photos`` first, then pocketgan's synthetic
    scenes), the scores beside doing nothing (its card's, or its eval.json's), then the card and sizes.
    Nothing from a dataset. ``figure``: also save the pictures as one PNG (or JPEG by its suffix)."""
    from .models.pretrained import read_model_config

    model = Path(model)
    config = read_model_config(model)
    info = describe(model, size)
    pairs = translation_pairs(model, size, photos)
    if figure:  # PNG, or JPEG by the file's suffix (smaller, e.g. for a README)
        fig = _compose(pairs, size)
        buf = io.BytesIO()
        jpeg = Path(figure).suffix.lower() in (".jpg", ".jpeg")
        fig.save(buf, "JPEG" if jpeg else "PNG", **({"quality": 88} if jpeg else {"optimize": True}))
        atomic_write_bytes(Path(figure), buf.getvalue())
    domains = config.get("domains") if isinstance(config.get("domains"), dict) else {}
    card = config.get("model_card") if isinstance(config.get("model_card"), dict) else {}
    eval_json = model / "eval.json"
    try:
        measured = read_json(eval_json) if eval_json.is_file() else {}
    except (OSError, ValueError):
        measured = {}
    published = card.get("evaluation") if isinstance(card.get("evaluation"), dict) else {}

    facts = []
    directions = pairs["directions"]
    if directions:
        facts.append(("Translates", " and ".join(_direction_label(d, domains) for d in directions)))
    gens = [n for k, n in info["networks"].items() if k.startswith("G")]
    if gens:
        g = gens[0]
        same = all((n["params"], n["macs"]) == (g["params"], g["macs"]) for n in gens)
        each = " each" if len(gens) > 1 and same else ""
        facts.append(("Size", f"{g['params']:,} parameters, {g['macs'] / 1e9:.2f} GMACs at {size}×{size}, "
                              f"{g['megabytes']:.2f} MB (fp32){each}" if same else
                      "; ".join(f"{n['params']:,} parameters" for n in gens)))
    if pairs["seconds"] is not None:
        import torch

        facts.append(("Speed", f"about {pairs['seconds'] * 1000:.0f} ms per {size}×{size} image and direction on this "
                               f"computer's CPU (PyTorch, {torch.get_num_threads()} threads; the best of {pairs['timed']} "
                               "runs while writing this report)"))
    headline = _headline(published or measured, domains)
    if headline:
        facts.append(("Scores", headline))
    if card.get("train_minutes"):
        facts.append(("Trained", f"{_e(_duration(float(card['train_minutes']) * 60))}"
                                 + (f" on {_e(card['hardware'])}" if card.get("hardware") else "")))

    what = "pocketgan's synthetic scenes" + (" and your photos" if photos else "")
    sections = [("pictures", "Before and after",
                 f"<p class='muted'>Translated now, on this computer, from {what}; no dataset images are shown.</p>"
                 + _pictures(pairs, domains, size))]
    scores = []
    if published:
        scores.append("<p>Measured on the test split (from the model card).</p>" + _scores_table(published, domains))
    if measured:
        scores.append(f"<p>Measured by <code>pocketgan evaluate</code> ({_e(eval_json.name)} in the model folder).</p>"
                      + _scores_table(measured, domains))
    if scores:
        sections.append(("scores", "Scores beside doing nothing", "".join(scores)))
    if card:
        sections.append(("card", "Model card", _card(card)))

    nav = [(sid, title) for sid, title, _ in sections] + [("size", "Size")]
    parts = [f"<header><h1>pocketgan model: {_e(model.name)}</h1>"]
    if config.get("description"):
        parts.append(f"<p class='summary'>{_e(config['description'])}</p>")
    parts += [_facts(facts), _nav(nav), "</header>"]
    parts += [_section(sid, title, body) for sid, title, body in sections]
    parts.append(_size_table(info, "Size"))
    page = _page(model.name, parts)
    out = Path(out)
    atomic_write_bytes(out, page.encode())
    return out
