"""`pocketgan report runs/NAME`: one self-contained HTML page (images embedded) that shows whether
training worked: health checks first, then loss curves, sample grids over training, FID/KID over
training, evaluation results, model sizes and the config."""
from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

from PIL import Image

from .directions import DIRECTION_NAMES
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


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def run_objective(run: Path) -> ObjectiveSpec:
    """The registry entry of the objective a run folder trained (from its train_config.json)."""
    from .training.run import RunFolder, TrainingError

    from .training.config import ConfigError, read_run_config

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
    fig, axes = plt.subplots(1, len(groups) + 1, figsize=(4 * (len(groups) + 1), 3.2))
    steps = [m["step"] for m in metrics]
    for ax, (title, keys) in zip(axes, groups):
        for k in keys:
            if any(k in m for m in metrics):
                ax.plot(steps, [m.get(k, math.nan) for m in metrics], label=k, lw=1)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1].plot(steps, [m["lr"] for m in metrics], color="k", lw=1)
    axes[-1].set_title("learning rate")
    axes[-1].set_xlabel("step")
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


STYLE = ("body{font-family:system-ui,sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}"
         "img{max-width:100%}img.grid{image-rendering:pixelated;width:min(100%,900px)}figure{margin:1em 0}")


def _page(title: str, parts: list[str]) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)} · pocketgan</title>"
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")


def _size_table(info: dict, heading: str) -> str:
    """Params, GMACs and MB of each network, from :func:`pocketgan.summary.describe`."""
    rows = "".join(f"<tr><td>{name}</td><td>{html.escape(n['arch'])}</td><td>{n['params']:,}</td>"
                   f"<td>{n['macs'] / 1e9:.2f}</td><td>{n['megabytes']:.1f}</td></tr>" for name, n in info["networks"].items())
    return (f"<h2>{heading}</h2><table><tr><th>net</th><th>architecture</th><th>params</th>"
            f"<th>GMACs @ {info['image_size']}²</th><th>MB (fp32)</th></tr>{rows}</table>")


def build_report(run: str | Path, max_grids: int = 8) -> Path:
    run = Path(run)
    spec = run_objective(run)
    info = describe(run)
    metrics = [m for m in read_jsonl(run / "metrics.jsonl") if "lr" in m]
    evals = read_jsonl(run / "eval.jsonl")
    grids = sorted((run / "samples").glob("step_*.png"))
    if len(grids) > max_grids:  # evenly spaced, always the first and the last
        idx = sorted({round(i * (len(grids) - 1) / (max_grids - 1)) for i in range(max_grids)})
        grids = [grids[i] for i in idx]
    e = html.escape
    parts = [f"<h1>pocketgan run: {e(run.name)}</h1><p>objective: {e(spec.name)} — {e(spec.summary)}</p>"]
    t = info.get("training") or {}
    if "of_total_steps" in t:
        parts.append(f"<p>{t['steps']:,} of {t['of_total_steps']:,} steps; {t['train_seconds'] / 60:.1f} min of training steps.</p>")
    eval_json = run / "eval.json"
    results = read_json(eval_json) if eval_json.is_file() else {}
    parts.append("<h2>Health checks</h2><ul>")
    for status, msg in health_checks(metrics, evals, results, spec):
        color = {"ok": "#1a7f37", "warn": "#b26a00", "bad": "#c62828"}[status]
        parts.append(f'<li><b style="color:{color}">{status.upper()}</b> {e(msg)}</li>')
    parts.append("</ul>")
    if metrics:
        parts.append(f'<h2>Losses</h2><img alt="loss curves" src="data:image/png;base64,{loss_figure(metrics, spec)}">')
    if evals:
        parts.append(f'<h2>FID / KID over training</h2><p>{e(str(evals[-1].get("images")))} test images per domain, '
                     f'{e(evals[-1].get("convention", ""))} convention.</p>'
                     f'<img alt="FID and KID" src="data:image/png;base64,{eval_figure(evals)}">')
    if results:
        parts.append("<h2>Evaluation (pocketgan evaluate)</h2><table><tr><th>direction / convention</th><th>images</th>"
                     "<th>KID×1000 translated</th><th>KID×1000 do nothing</th><th>FID translated</th><th>FID do nothing</th><th>cycle PSNR</th></tr>")
        for key, r in results.items():
            tr, dn = r["translated"], r["do_nothing"]
            parts.append(f"<tr><td>{e(key)}</td><td>{r['n_source']}→{r['n_target']}</td>"
                         f"<td>{tr['kid_x1000']:.2f} ± {tr['kid_x1000_std']:.2f}</td><td>{dn['kid_x1000']:.2f} ± {dn['kid_x1000_std']:.2f}</td>"
                         f"<td>{tr['fid']:.2f}</td><td>{dn['fid']:.2f}</td><td>{r.get('cycle', {}).get('psnr', '')}</td></tr>")
        parts.append("</table>")
    if grids:
        parts.append(f"<h2>Samples over training</h2><p>columns: {e(' | '.join(spec.visual_names))}</p>")
        for g in grids:
            data = base64.b64encode(g.read_bytes()).decode()
            parts.append(f'<figure><figcaption>step {int(g.stem.split("_")[1]):,}</figcaption>'
                         f'<img class="grid" alt="{e(g.name)}" src="data:image/png;base64,{data}"></figure>')
    parts.append(_size_table(info, "Model size"))
    if info.get("config"):
        rows = "".join(f"<tr><td>{e(k)}</td><td>{e(str(v))}</td></tr>" for k, v in info["config"].items())
        parts.append(f"<h2>Config</h2><table>{rows}</table>")
    page = _page(run.name, parts)
    out = run / "report.html"
    atomic_write_bytes(out, page.encode())
    return out


def translation_figure(model: str | Path, size: int = 256, photos: list[Path] | None = None, scenes: int = 3) -> Image.Image:
    """Before/after pairs a model may be shown with: its own synthetic scenes (``render_scene``,
    summer-style inputs for AtoB, winter-style for BtoA) and, if given, the user's own photos.
    One row per input: input | translation, for each direction the model holds."""
    from PIL import ImageDraw

    from .data.images import load_image
    from .data.synthetic import render_scene
    from .inference.pipeline import TranslationPipeline
    from .directions import DIRECTIONS
    from .models.pretrained import read_model_config

    gens = read_model_config(model)["generators"]
    directions = [name for name, d in DIRECTIONS.items() if d.slot in gens]
    inputs = {name: [render_scene(s, size, d.source) for s in range(scenes)] for name, d in DIRECTIONS.items()}
    for d in directions:
        for p in photos or []:
            im = load_image(p)
            im.thumbnail((size, size))
            inputs[d].append(im)
    header = 16
    rows = max(len(inputs[d]) for d in directions)
    fig = Image.new("RGB", (2 * size * len(directions), header + rows * size), "white")
    draw = ImageDraw.Draw(fig)
    for c, d in enumerate(directions):
        pipe = TranslationPipeline.from_pretrained(model, d, device="cpu", max_side=None)
        draw.text((2 * c * size + 4, 2), f"{d}: input", fill="black")
        draw.text(((2 * c + 1) * size + 4, 2), f"{d}: translated", fill="black")
        for r, im in enumerate(inputs[d]):
            fig.paste(im, (2 * c * size, header + r * size))
            fig.paste(pipe(im), ((2 * c + 1) * size, header + r * size))
    return fig


def build_model_report(model: str | Path, out: str | Path, photos: list[Path] | None = None,
                       figure: str | Path | None = None) -> Path:
    """A report for a model folder (bundled, imported or trained): its card, sizes, and what it does
    to synthetic scenes and to ``photos`` (the user's own, at run time). Nothing from a dataset."""
    from .models.pretrained import read_model_config

    model = Path(model)
    config = read_model_config(model)
    info = describe(model)
    e = html.escape
    fig = translation_figure(model, photos=photos)
    if figure:  # PNG, or JPEG by the file's suffix (smaller, e.g. for a README)
        buf = io.BytesIO()
        jpeg = Path(figure).suffix.lower() in (".jpg", ".jpeg")
        fig.save(buf, "JPEG" if jpeg else "PNG", **({"quality": 88} if jpeg else {"optimize": True}))
        atomic_write_bytes(Path(figure), buf.getvalue())
    buf = io.BytesIO()
    fig.save(buf, "PNG")
    parts = [f"<h1>pocketgan model: {e(model.name)}</h1>"]
    if config.get("description"):
        parts.append(f"<p>{e(config['description'])}</p>")
    card = config.get("model_card")
    if card:
        rows = "".join(f"<tr><td>{e(k)}</td><td>{e(json.dumps(v) if isinstance(v, (dict, list)) else str(v))}</td></tr>"
                       for k, v in card.items() if k != "evaluation")
        parts.append(f"<h2>Model card</h2><table>{rows}</table>")
        if card.get("evaluation"):
            parts.append("<h2>Measured on the test split</h2><table><tr><th>direction / convention</th><th>images</th>"
                         "<th>KID×1000 translated</th><th>KID×1000 do nothing</th><th>FID translated</th>"
                         "<th>FID do nothing</th></tr>")
            for key, s in card["evaluation"].items():
                tr, dn = s["translated"], s["do_nothing"]
                parts.append(f"<tr><td>{e(key)}</td><td>{e(s['test_images'])}</td><td>{tr['kid_x1000']} ± "
                             f"{tr['kid_x1000_std']}</td><td>{dn['kid_x1000']} ± {dn['kid_x1000_std']}</td>"
                             f"<td>{tr['fid']}</td><td>{dn['fid']}</td></tr>")
            parts.append("</table>")
    what = "pocketgan's synthetic scenes" + (" and your photos" if photos else "")
    parts.append(f"<h2>What it does</h2><p>On {what} (no dataset images are shown):</p>"
                 f'<img alt="before and after" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">')
    parts.append(_size_table(info, "Size"))
    page = _page(model.name, parts)
    out = Path(out)
    atomic_write_bytes(out, page.encode())
    return out
