// Unit tests for src/imaging.js, the page's and the inference worker's pixel plumbing (`npm test`:
// Node's own test runner, no dependencies). Expected values are worked out by hand in the comments.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  axisWeights, blendRgba, composeFull, fitSize, isHeif, liveSize, MIN_SIDE, paddedRgbToRgba, paddedSize,
  rgbaToPaddedRgb, SIZE_MULTIPLE, sizeText, upsampleAdd,
} from "../src/imaging.js";

/** An RGBA image whose pixel (x, y) is [x, y, 7x + 3y (mod 256), 99]: every pixel tells where it came from. */
function labelled(width, height) {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) rgba.set([x, y, (7 * x + 3 * y) % 256, 99], (y * width + x) * 4);
  }
  return rgba;
}

/** Pixel (x, y) of a packed image with `channels` channels per pixel, as a plain array. */
function pixel(data, width, x, y, channels) {
  const at = (y * width + x) * channels;
  return Array.from(data.subarray(at, at + channels));
}

/** Channel `c` of every pixel of an RGBA buffer, in order. */
const channel = (rgba, c) => Array.from(rgba.filter((_, i) => i % 4 === c));

/** A seeded pseudo-random byte stream (a linear congruential generator): the same bytes on every run. */
function bytes(n, seed) {
  const out = new Uint8ClampedArray(n);
  let v = seed;
  for (let i = 0; i < n; i++) {
    v = (Math.imul(v, 1664525) + 1013904223) >>> 0;
    out[i] = v >>> 24;
  }
  return out;
}

describe("constants", () => {
  test("the network's stride and smallest side", () => {
    assert.equal(SIZE_MULTIPLE, 4);
    assert.equal(MIN_SIDE, 16);
  });
});

describe("fitSize", () => {
  test("no limit or a size within the limit: unchanged", () => {
    assert.deepEqual(fitSize(4032, 3024, 0), { width: 4032, height: 3024, scaled: false });
    assert.deepEqual(fitSize(4032, 3024, undefined), { width: 4032, height: 3024, scaled: false });
    assert.deepEqual(fitSize(100, 50, 100), { width: 100, height: 50, scaled: false }); // longer side equal to the limit
    assert.deepEqual(fitSize(1, 1, 1024), { width: 1, height: 1, scaled: false });
  });

  test("the longer side becomes the limit, the other keeps the aspect ratio", () => {
    assert.deepEqual(fitSize(4032, 3024, 1024), { width: 1024, height: 768, scaled: true }); // 3024·1024/4032 = 768
    assert.deepEqual(fitSize(3024, 4032, 1024), { width: 768, height: 1024, scaled: true }); // portrait
    assert.deepEqual(fitSize(101, 101, 100), { width: 100, height: 100, scaled: true });
  });

  test("the scaled side is rounded to the nearest pixel", () => {
    assert.deepEqual(fitSize(3, 2, 2), { width: 2, height: 1, scaled: true }); // 2·2/3 = 1.33 -> 1
    assert.deepEqual(fitSize(300, 250, 200), { width: 200, height: 167, scaled: true }); // 166.67 -> 167
    assert.deepEqual(fitSize(8, 5, 4), { width: 4, height: 3, scaled: true }); // 2.5 -> 3 (Math.round: half up)
  });

  test("a very thin image keeps at least one pixel", () => {
    assert.deepEqual(fitSize(1000, 1, 10), { width: 10, height: 1, scaled: true }); // 0.01 would round to 0
    assert.deepEqual(fitSize(1, 1000, 10), { width: 1, height: 10, scaled: true });
  });
});

describe("paddedSize", () => {
  test("sides go up to the next multiple of 4", () => {
    assert.deepEqual(paddedSize(17, 18), { width: 20, height: 20 });
    assert.deepEqual(paddedSize(19, 20), { width: 20, height: 20 });
    assert.deepEqual(paddedSize(21, 100), { width: 24, height: 100 });
    assert.deepEqual(paddedSize(1023, 767), { width: 1024, height: 768 });
  });

  test("at least 16 px", () => {
    assert.deepEqual(paddedSize(1, 1), { width: 16, height: 16 });
    assert.deepEqual(paddedSize(4, 15), { width: 16, height: 16 });
    assert.deepEqual(paddedSize(16, 16), { width: 16, height: 16 });
    assert.deepEqual(paddedSize(3, 40), { width: 16, height: 40 });
  });
});

describe("rgbaToPaddedRgb", () => {
  test("a size the network takes as it is: the RGB bytes, alpha dropped", () => {
    const rgba = labelled(16, 20);
    const out = rgbaToPaddedRgb(rgba, 16, 20);
    assert.equal(out.width, 16);
    assert.equal(out.height, 20);
    assert.ok(out.data instanceof Uint8Array);
    assert.equal(out.data.length, 16 * 20 * 3);
    assert.deepEqual(Array.from(out.data), Array.from(rgba.filter((_, i) => i % 4 !== 3)));
  });

  test("padding on the right reflects without repeating the edge", () => {
    // 17×16 -> 20×16: padded columns 17, 18, 19 come from 15, 14, 13 (numpy's "reflect")
    const out = rgbaToPaddedRgb(labelled(17, 16), 17, 16);
    assert.deepEqual([out.width, out.height], [20, 16]);
    const sourceX = [...Array(17).keys(), 15, 14, 13];
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 20; x++) {
        const sx = sourceX[x];
        assert.deepEqual(pixel(out.data, 20, x, y, 3), [sx, y, (7 * sx + 3 * y) % 256], `pixel (${x}, ${y})`);
      }
    }
  });

  test("padding at the bottom and the corner reflects too", () => {
    // 14×18 -> 16×20: columns 14, 15 from 12, 11; rows 18, 19 from 16, 15
    const out = rgbaToPaddedRgb(labelled(14, 18), 14, 18);
    assert.deepEqual([out.width, out.height], [16, 20]);
    const sourceX = [...Array(14).keys(), 12, 11];
    const sourceY = [...Array(18).keys(), 16, 15];
    for (let y = 0; y < 20; y++) {
      for (let x = 0; x < 16; x++) {
        const [sx, sy] = [sourceX[x], sourceY[y]];
        assert.deepEqual(pixel(out.data, 16, x, y, 3), [sx, sy, (7 * sx + 3 * sy) % 256], `pixel (${x}, ${y})`);
      }
    }
  });

  test("an image too small to reflect repeats its edge, on both sides", () => {
    // 18×3 -> 20×16: the 13-row pad is longer than the 3 rows, so both sides replicate (columns 18,
    // 19 from 17, not 16 and 15), as the Python pipeline does
    const out = rgbaToPaddedRgb(labelled(18, 3), 18, 3);
    assert.deepEqual([out.width, out.height], [20, 16]);
    for (let y = 0; y < 16; y++) {
      for (let x = 0; x < 20; x++) {
        const [sx, sy] = [Math.min(x, 17), Math.min(y, 2)];
        assert.deepEqual(pixel(out.data, 20, x, y, 3), [sx, sy, (7 * sx + 3 * sy) % 256], `pixel (${x}, ${y})`);
      }
    }
  });

  test("a pad as long as the side cannot reflect either", () => {
    // 8×16 -> 16×16: an 8-column pad on 8 columns replicates column 7
    const out = rgbaToPaddedRgb(labelled(8, 16), 8, 16);
    assert.deepEqual(pixel(out.data, 16, 8, 0, 3), [7, 0, 49]);
    assert.deepEqual(pixel(out.data, 16, 15, 5, 3), [7, 5, 64]);
  });

  test("a 1×1 image fills the whole 16×16 input", () => {
    const out = rgbaToPaddedRgb(new Uint8ClampedArray([10, 20, 30, 0]), 1, 1);
    assert.deepEqual([out.width, out.height], [16, 16]);
    assert.equal(out.data.length, 16 * 16 * 3);
    for (let i = 0; i < out.data.length; i += 3) assert.deepEqual(Array.from(out.data.subarray(i, i + 3)), [10, 20, 30]);
  });
});

describe("paddedRgbToRgba", () => {
  test("crops the top-left of the padded output, opaque", () => {
    // a 20×16 output whose pixel (x, y) is [x, y, 200]; the photo was 17×13
    const rgb = new Uint8Array(20 * 16 * 3);
    for (let y = 0; y < 16; y++) for (let x = 0; x < 20; x++) rgb.set([x, y, 200], (y * 20 + x) * 3);
    const out = paddedRgbToRgba(rgb, 20, 17, 13);
    assert.ok(out instanceof Uint8ClampedArray);
    assert.equal(out.length, 17 * 13 * 4);
    for (let y = 0; y < 13; y++) {
      for (let x = 0; x < 17; x++) assert.deepEqual(pixel(out, 17, x, y, 4), [x, y, 200, 255], `pixel (${x}, ${y})`);
    }
  });

  test("fills the buffer it is given", () => {
    const target = new Uint8ClampedArray(2 * 4);
    const rgb = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]); // 4×1
    assert.equal(paddedRgbToRgba(rgb, 4, 2, 1, target), target);
    assert.deepEqual(Array.from(target), [1, 2, 3, 255, 4, 5, 6, 255]);
  });

  test("undoes rgbaToPaddedRgb at odd sizes and at 1×1", () => {
    for (const [w, h] of [[1, 1], [7, 5], [17, 19], [33, 2]]) {
      const rgba = bytes(w * h * 4, w * 100 + h);
      const padded = rgbaToPaddedRgb(rgba, w, h);
      const back = paddedRgbToRgba(padded.data, padded.width, w, h);
      const opaque = rgba.map((v, i) => (i % 4 === 3 ? 255 : v));
      assert.deepEqual(Array.from(back), Array.from(opaque), `${w}×${h}`);
    }
  });
});

describe("blendRgba", () => {
  const before = new Uint8ClampedArray([0, 100, 100, 7, 10, 200, 1, 7]);
  const after = new Uint8ClampedArray([255, 200, 0, 255, 20, 0, 2, 255]);

  test("strength 1 is the translation itself", () => {
    const out = blendRgba(before, after, 1);
    assert.notEqual(out, after);
    assert.deepEqual(Array.from(out), Array.from(after));
  });

  test("strength 0 is the photo, opaque", () => {
    assert.deepEqual(Array.from(blendRgba(before, after, 0)), [0, 100, 100, 255, 10, 200, 1, 255]);
  });

  test("x + s·(y − x), rounded half to even", () => {
    // s = 0.5: 127.5 -> 128, 150, 50, 15, 100, 1.5 -> 2
    assert.deepEqual(Array.from(blendRgba(before, after, 0.5)), [128, 150, 50, 255, 15, 100, 2, 255]);
    const ties = blendRgba(new Uint8ClampedArray([0, 2, 4, 0]), new Uint8ClampedArray([1, 3, 5, 0]), 0.5);
    assert.deepEqual(Array.from(ties), [0, 2, 4, 255]); // 0.5 -> 0, 2.5 -> 2, 4.5 -> 4
  });

  test("above 1 exaggerates, clamped to 0..255", () => {
    // s = 2: 510 -> 255, 300 -> 255, -100 -> 0, 30, -200 -> 0, 3
    assert.deepEqual(Array.from(blendRgba(before, after, 2)), [255, 255, 0, 255, 30, 0, 3, 255]);
  });

  test("fills the buffer it is given", () => {
    const target = new Uint8ClampedArray(8);
    assert.equal(blendRgba(before, after, 0.5, target), target);
    assert.equal(blendRgba(before, after, 1, target), target);
    assert.deepEqual(Array.from(target), Array.from(after));
  });
});

describe("liveSize", () => {
  test("the longer side becomes the working side, both multiples of 4", () => {
    assert.deepEqual(liveSize(640, 480, 256), { width: 256, height: 192 });
    assert.deepEqual(liveSize(1920, 1080, 256), { width: 256, height: 144 }); // 1080·256/1920 = 144
    assert.deepEqual(liveSize(1080, 1920, 384), { width: 216, height: 384 }); // 216 = 4·54
    assert.deepEqual(liveSize(1280, 720, 300), { width: 300, height: 168 }); // 168.75 -> 4·42
  });

  test("a frame smaller than the side is not enlarged, only snapped to the stride", () => {
    assert.deepEqual(liveSize(100, 50, 256), { width: 100, height: 52 }); // 50/4 = 12.5 -> 13 -> 52
    assert.deepEqual(liveSize(101, 65, 256), { width: 100, height: 64 });
  });

  test("at least 16 px a side", () => {
    assert.deepEqual(liveSize(10, 5, 256), { width: 16, height: 16 });
    assert.deepEqual(liveSize(1000, 30, 256), { width: 256, height: 16 }); // 7.68 -> 8 -> 16
    assert.deepEqual(liveSize(1, 1, 256), { width: 16, height: 16 });
  });
});

describe("isHeif", () => {
  test("by MIME type", () => {
    for (const type of ["image/heic", "image/heif", "image/HEIC", "image/heic-sequence"]) {
      assert.equal(isHeif({ type, name: "" }), true, type);
    }
    assert.equal(isHeif({ type: "image/jpeg", name: "a.jpg" }), false);
    assert.equal(isHeif({ type: "video/heic", name: "a" }), false);
  });

  test("by file name when the type is empty or missing", () => {
    assert.equal(isHeif({ type: "", name: "IMG_0001.HEIC" }), true);
    assert.equal(isHeif({ name: "photo.heif" }), true);
    assert.equal(isHeif({ type: "image/jpeg", name: "misnamed.heic" }), true);
    assert.equal(isHeif({ type: "", name: "heic.jpg" }), false);
    assert.equal(isHeif({ type: "", name: "photo.heic.png" }), false);
    assert.equal(isHeif({}), false);
  });
});

describe("sizeText", () => {
  test("width×height", () => {
    assert.equal(sizeText(4032, 3024), "4032×3024");
    assert.equal(sizeText(1, 1), "1×1");
  });
});

describe("axisWeights", () => {
  const plain = ({ i0, i1, w }) => ({ i0: Array.from(i0), i1: Array.from(i1), w: Array.from(w) });

  test("typed arrays, one entry per output index", () => {
    const { i0, i1, w } = axisWeights(3, 5);
    assert.ok(i0 instanceof Int32Array && i1 instanceof Int32Array && w instanceof Float32Array);
    assert.deepEqual([i0.length, i1.length, w.length], [5, 5, 5]);
  });

  test("the same size: each index itself", () => {
    assert.deepEqual(plain(axisWeights(4, 4)), { i0: [0, 1, 2, 3], i1: [1, 2, 3, 3], w: [0, 0, 0, 0] });
  });

  test("2 -> 4 with half-pixel centres (align_corners=False), clamped at the edges", () => {
    // source positions (i + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25 -> clamped to 0, 0.25, 0.75, 1
    assert.deepEqual(plain(axisWeights(2, 4)), { i0: [0, 0, 0, 1], i1: [1, 1, 1, 1], w: [0, 0.25, 0.75, 0] });
  });

  test("4 -> 2: halfway between each pair", () => {
    assert.deepEqual(plain(axisWeights(4, 2)), { i0: [0, 2], i1: [1, 3], w: [0.5, 0.5] });
  });

  test("a 1-pixel axis spreads its one pixel", () => {
    assert.deepEqual(plain(axisWeights(1, 3)), { i0: [0, 0, 0], i1: [0, 0, 0], w: [0, 0, 0] });
  });
});

describe("upsampleAdd", () => {
  test("1×1 -> 2×3 without a base: the one value everywhere, rounded and clamped", () => {
    const out = upsampleAdd(new Float32Array([10.4, -5, 300]), 1, 1, null, 2, 3, new Uint8ClampedArray(2 * 3 * 4));
    for (let i = 0; i < out.length; i += 4) assert.deepEqual(Array.from(out.subarray(i, i + 4)), [10, 0, 255, 255]);
  });

  test("2×1 -> 4×1 along a row: a quarter and three quarters between the pixels", () => {
    const maps = new Float32Array([0, 100, 0, 100, 0, 8]); // pixels [0, 100, 0] and [100, 0, 8]
    const out = upsampleAdd(maps, 2, 1, null, 4, 1, new Uint8ClampedArray(4 * 4));
    assert.deepEqual(channel(out, 0), [0, 25, 75, 100]);
    assert.deepEqual(channel(out, 1), [100, 75, 25, 0]);
    assert.deepEqual(channel(out, 2), [0, 2, 6, 8]);
    assert.deepEqual(channel(out, 3), [255, 255, 255, 255]);
  });

  test("1×2 -> 1×4 down a column", () => {
    const maps = new Float32Array([0, 40, 4, 100, 0, 8]);
    const out = upsampleAdd(maps, 1, 2, null, 1, 4, new Uint8ClampedArray(4 * 4));
    assert.deepEqual(channel(out, 0), [0, 25, 75, 100]);
    assert.deepEqual(channel(out, 1), [40, 30, 10, 0]);
    assert.deepEqual(channel(out, 2), [4, 5, 7, 8]); // 5 and 7 exactly: 4 + 0.25·4, 4 + 0.75·4
  });

  test("2×2 -> 4×4 in both directions", () => {
    // red 0, 40 / 80, 120 is linear, 40·fx + 80·fy, with fx, fy in 0, 0.25, 0.75, 1
    const maps = new Float32Array([0, 0, 0, 40, 0, 0, 80, 0, 0, 120, 0, 0]);
    const out = upsampleAdd(maps, 2, 2, null, 4, 4, new Uint8ClampedArray(4 * 4 * 4));
    assert.deepEqual(channel(out, 0), [0, 10, 30, 40, 20, 30, 50, 60, 60, 70, 90, 100, 80, 90, 110, 120]);
  });

  test("added to the base, rounded half to even, clamped", () => {
    const base = new Uint8ClampedArray([0, 0, 200, 9, 1, 250, 5, 9]); // 2×1, alpha ignored
    const out = upsampleAdd(new Float32Array([1.5, 2.5, -1000]), 1, 1, base, 2, 1, new Uint8ClampedArray(8));
    // 0 + 1.5 = 1.5 -> 2, 0 + 2.5 = 2.5 -> 2, 200 − 1000 -> 0; 1 + 1.5 = 2.5 -> 2, 250 + 2.5 = 252.5 -> 252, 5 − 1000 -> 0
    assert.deepEqual(Array.from(out), [2, 2, 0, 255, 2, 252, 0, 255]);
  });

  test("returns the buffer it fills", () => {
    const target = new Uint8ClampedArray(4);
    assert.equal(upsampleAdd(new Float32Array([1, 2, 3]), 1, 1, null, 1, 1, target), target);
    assert.deepEqual(Array.from(target), [1, 2, 3, 255]);
  });
});

describe("composeFull", () => {
  // a residual model's change at a 1×1 working size, (+10, −10, 0), on a 2×2 photo
  const before1 = new Uint8ClampedArray([100, 100, 100, 255]);
  const after1 = new Uint8ClampedArray([110, 90, 100, 255]);
  const photo = new Uint8ClampedArray([0, 0, 0, 0, 250, 5, 7, 0, 100, 200, 50, 0, 255, 255, 255, 0]);
  const residual = (s) => Array.from(composeFull({ photo, before: before1, after: after1, w: 1, h: 1, W: 2, H: 2, residual: true }, s));

  test("residual: the change, scaled by the strength, added to the full-size photo", () => {
    assert.deepEqual(residual(1), [10, 0, 0, 255, 255, 0, 7, 255, 110, 190, 50, 255, 255, 245, 255, 255]);
    assert.deepEqual(residual(0.5), [5, 0, 0, 255, 255, 0, 7, 255, 105, 195, 50, 255, 255, 250, 255, 255]);
    assert.deepEqual(residual(0), [0, 0, 0, 255, 250, 5, 7, 255, 100, 200, 50, 255, 255, 255, 255, 255]);
  });

  test("residual at the working size itself: the same as blendRgba", () => {
    const [w, h] = [5, 3];
    const before = bytes(w * h * 4, 1);
    const after = bytes(w * h * 4, 2);
    for (const s of [0, 0.5, 1, 2]) {
      const full = composeFull({ photo: before, before, after, w, h, W: w, H: h, residual: true }, s);
      const blended = blendRgba(before, after, s).map((v, i) => (i % 4 === 3 ? 255 : v));
      assert.deepEqual(Array.from(full), Array.from(blended), `strength ${s}`);
    }
  });

  test("not residual: the blend, clamped first, then upscaled (the photo is not used)", () => {
    // 2×1 -> 4×1; red: before 200, 0 and after 250, 0 at strength 2 blend to 300 -> 255, 0, then
    // upscale to 255, 191.25, 63.75, 0 (not 300, 225, 75, 0 clamped afterwards)
    const before = new Uint8ClampedArray([200, 0, 0, 255, 0, 100, 0, 255]);
    const after = new Uint8ClampedArray([250, 0, 100, 255, 0, 100, 40, 255]);
    const fullSize = new Uint8ClampedArray(4 * 4).fill(50); // full size, but only a residual model's change is added to it
    const s2 = composeFull({ photo: fullSize, before, after, w: 2, h: 1, W: 4, H: 1, residual: false }, 2);
    assert.deepEqual(channel(s2, 0), [255, 191, 64, 0]);
    assert.deepEqual(channel(s2, 1), [0, 25, 75, 100]);
    assert.deepEqual(channel(s2, 2), [200, 170, 110, 80]); // 0 + 2·100 and 0 + 2·40, upscaled
    assert.deepEqual(channel(s2, 3), [255, 255, 255, 255]);
    const s1 = composeFull({ photo: fullSize, before, after, w: 2, h: 1, W: 4, H: 1, residual: false }, 1);
    assert.deepEqual(channel(s1, 0), [250, 188, 62, 0]); // 187.5 -> 188, 62.5 -> 62: half to even
  });

  test("the default buffer is W×H RGBA; a given one is filled", () => {
    const args = { photo, before: before1, after: after1, w: 1, h: 1, W: 2, H: 2, residual: true };
    const out = composeFull(args, 1);
    assert.ok(out instanceof Uint8ClampedArray);
    assert.equal(out.length, 2 * 2 * 4);
    const target = new Uint8ClampedArray(16);
    assert.equal(composeFull(args, 1, target), target);
    assert.deepEqual(Array.from(target), Array.from(out));
  });
});
