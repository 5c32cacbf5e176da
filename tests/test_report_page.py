"""The report pages as a person reads them: pictures first, then the numbers, the details last; the
card's stages and notes as tables and bullets (never raw JSON); every user string escaped; one
self-contained file. Parsed with html.parser, not string positions."""
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from pocketgan.models.zoo import resolve_model
from pocketgan.report import _duration, _notes, _value, build_model_report, build_report
from pocketgan.training.run import train

HOSTILE = '<b onmouseover="alert(1)">&garden'


class Page(HTMLParser):
    """What a reader meets, in order: section ids, headings, images, tables, list items, and every
    URL the page would load or link to."""

    def __init__(self, text: str):
        super().__init__()
        self.sections, self.order, self.urls, self.tags = [], [], [], []
        self.li_text, self._li, self._h = [], None, None
        self.headings = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self.sections.append(a.get("id"))
            self.order.append(("section", a.get("id")))
        elif tag in ("img", "table"):
            self.order.append((tag, self.sections[-1] if self.sections else None))
        if tag == "li":
            self._li = []
        if tag in ("h1", "h2", "h3"):
            self._h = []
        for key in ("src", "href"):
            if key in a:
                self.urls.append(a[key])

    def handle_endtag(self, tag):
        if tag == "li" and self._li is not None:
            self.li_text.append("".join(self._li))
            self._li = None
        if tag in ("h1", "h2", "h3") and self._h is not None:
            self.headings.append("".join(self._h))
            self._h = None

    def handle_data(self, data):
        if self._li is not None:
            self._li.append(data)
        if self._h is not None:
            self._h.append(data)


def assert_self_contained(page: Page) -> None:
    assert "script" not in page.tags and "iframe" not in page.tags and "link" not in page.tags
    for url in page.urls:  # images embedded, links within the page only
        assert url.startswith(("data:image/", "#")), url[:60]


def tiny_model_with_the_bundled_card(folder: Path) -> Path:
    """A tiny generator pair (fast to build and describe) under the bundled model's own card."""
    from pocketgan.models import create_generator
    from pocketgan.models.pretrained import read_model_config, save_pretrained

    bundled = read_model_config(resolve_model("summer2winter"))
    return save_pretrained(folder, {"G_A": create_generator("resnet_6blocks", ngf=4),
                                    "G_B": create_generator("resnet_6blocks", ngf=4)},
                           description=bundled["description"], domains=bundled["domains"],
                           model_card=bundled["model_card"])


def test_model_report_reads_pictures_then_scores_then_card(tmp_path):
    photos = tmp_path / "mine"
    photos.mkdir()
    Image.new("RGB", (90, 60), (60, 150, 70)).save(photos / f"{HOSTILE}.png")
    model = tiny_model_with_the_bundled_card(tmp_path / "m")
    text = build_model_report(model, tmp_path / "r.html", sorted(photos.iterdir()), size=32).read_text()
    page = Page(text)
    assert page.sections == ["pictures", "scores", "card", "size"]
    first_img = page.order.index(("img", "pictures"))
    assert first_img < page.order.index(("table", "scores")) < page.order.index(("table", "card"))
    # a summary at the top, before the first section: what it does, its size, speed and scores
    top = text[:text.index("<section")]
    assert "summer → winter" in top and "parameters" in top and "ms per 32×32 image" in top
    assert "KID×1000 3.97 vs 10.27 doing nothing" in top and "1 h 41 min" in top
    # the scores beside doing nothing, labelled
    assert "do nothing" in text and "Lower KID and FID are better" in text
    # the card: no raw JSON; one table row a stage, the notes bullets, minutes as a person says them
    assert '{"steps"' not in text and "[{" not in text and '"command":' not in text
    assert "Training stages" in page.headings and "Notes" in page.headings
    stages = text[text.index("<h3>Training stages</h3>"):text.index("<h3>Notes</h3>")]
    assert stages.count("<tr>") == 3 and "17,234" in stages and "7,386" in stages and "44 min" in stages
    assert "<pre><code>pocketgan train --data summer2winter_yosemite" in stages  # the commands, to copy
    notes = [t for t in page.li_text if t.startswith(("Recipe:", "Known artefacts:"))]
    assert len(notes) == 2 and sum(len(t) < 400 for t in page.li_text) >= 6
    # the photo's name is shown, escaped: no tag or attribute from a file name
    assert HOSTILE not in text and 'onmouseover="' not in text
    assert "&lt;b onmouseover=&quot;alert(1)&quot;&gt;&amp;garden.png" in text
    assert "synthetic scenes and your photos" in text and "Your photos" in page.headings
    assert_self_contained(page)


@pytest.mark.slow
def test_the_bundled_models_report_summary(tmp_path):
    text = build_model_report(resolve_model("summer2winter"), tmp_path / "r.html", size=64).read_text()
    top = text[:text.index("<section")]
    assert "191,427 parameters" in top and " each" in top and "CPU-hours" in top
    assert "winter → summer" in top and "KID×1000 6.73 vs 10.35 doing nothing" in top
    assert Page(text).sections == ["pictures", "scores", "card", "size"]


def test_model_report_without_a_card_or_photos(tmp_path):
    from pocketgan.models import create_generator
    from pocketgan.models.pretrained import save_pretrained

    model = save_pretrained(tmp_path / "m", {"G_A": create_generator("resnet_6blocks", ngf=4)})
    page = Page(build_model_report(model, tmp_path / "r.html", size=32).read_text())
    assert page.sections == ["pictures", "size"] and "Your photos" not in page.headings
    assert_self_contained(page)


def test_model_report_shows_the_folders_own_evaluation(tmp_path):
    from pocketgan.models import create_generator
    from pocketgan.models.pretrained import save_pretrained

    model = save_pretrained(tmp_path / "m", {"G_A": create_generator("resnet_6blocks", ngf=4)},
                            domains={"A": "horse", "B": "zebra"})
    (model / "eval.json").write_text(json.dumps({"AtoB/clean": {
        "n_source": 12, "n_target": 9, "translated": {"kid_x1000": 20.5, "kid_x1000_std": 1.2, "fid": 90.1},
        "do_nothing": {"kid_x1000": 15.0, "kid_x1000_std": 1.0, "fid": 88.0}, "change": {"mean_abs": 9.5, "over_10": 0.3}}}))
    text = build_model_report(model, tmp_path / "r.html", size=32).read_text()
    assert Page(text).sections == ["pictures", "scores", "size"]
    assert "horse → zebra" in text and "12 → 9" in text and "worse" in text and "30%" in text


@pytest.mark.slow
def test_run_report_reads_pictures_then_numbers_then_config(toy_data, tmp_path, tiny_config):
    name = '<i>run "&'
    run = Path(train(tiny_config(toy_data, tmp_path, name=name, n_epochs=1, n_epochs_decay=1, sample_every=2))["run_dir"])
    # what --eval-every and `pocketgan evaluate` write (made up here: no Inception file needed)
    score = {"kid_x1000": 30.0, "kid_x1000_std": 2.0, "fid": 120.0}
    (run / "eval.jsonl").write_text("".join(json.dumps(
        {"step": s, "epoch": e, "images": {"A": 4, "B": 4}, "convention": "clean", "AtoB": score, "BtoA": score,
         "mean_kid_x1000": 30.0 - e}) + "\n" for e, s in ((1, 4), (2, 8))))
    (run / "eval.json").write_text(json.dumps({"AtoB/clean": {
        "n_source": 4, "n_target": 4, "translated": score, "do_nothing": {**score, "kid_x1000": 40.0},
        "cycle": {"l1": 0.1, "psnr": 17.5}}}))
    text = build_report(run).read_text()
    page = Page(text)
    assert page.sections == ["losses", "samples", "scores", "size", "config"]
    order = page.order
    assert order.index(("img", "losses")) < order.index(("img", "samples")) < order.index(("table", "scores"))
    assert "Health checks" in page.headings and "cycle_A loss" in text and "17.50 dB" in text
    # numbers a person reads: image counts per domain, not a Python dict; durations in words
    assert "{'A'" not in text and "A: 4, B: 4" in text and "of training steps" in text
    # the config last, collapsed
    config = text[text.index('<section id="config">'):]
    assert config.count("<details>") == 1 and "<details open" not in config and "lambda_A" in config
    # the run's name escaped everywhere
    assert name not in text and "&lt;i&gt;run &quot;&amp;" in text
    assert_self_contained(page)


def test_notes_become_bullets_with_their_leads():
    html = _notes("Trained on CPU. Recipe: no identity loss (see README.md). Strength 1.5 (translate --strength 1.5): "
                  "KID 3.5. It replaces (stage 1: KID 5) the old one.\n\n- one\n- <two>")
    assert html.count("<li>") == 6
    assert "<b>Recipe:</b> no identity loss" in html and "<b>Strength 1.5 (translate --strength 1.5):</b>" in html
    assert "<b>It replaces" not in html  # a colon inside brackets is no lead
    assert "&lt;two&gt;" in html and "<two>" not in html


def test_values_and_durations_read_as_words():
    assert [_duration(s) for s in (4.24, 42, 200, 3420, 6066)] == ["4.2 s", "42 s", "3 min 20 s", "57 min", "1 h 41 min"]
    table = _value([{"steps": 17234, "lr": 0.0002, "note": "<x>"}, {"steps": 7386}])
    assert "<table>" in table and "17,234" in table and "&lt;x&gt;" in table and "{" not in table
    assert _value({"a": None, "b": True, "c": [1, 2]}).count("<tr>") == 3
