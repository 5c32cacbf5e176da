// App icons drawn at build time (no image files in the repo, no image library): a summer half and a
// winter half split by a diagonal, with a sun, encoded as PNG with Node's zlib.

import { deflateSync } from "node:zlib";

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const out = Buffer.alloc(body.length + 8);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), body.length + 4);
  return out;
}

/** Encode `rgb` (size×size×3 bytes) as an 8-bit RGB PNG. */
export function encodePng(rgb, size) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header.set([8, 2, 0, 0, 0], 8); // bit depth 8, colour type RGB, deflate, no filter method, no interlace
  const raw = Buffer.alloc(size * (size * 3 + 1));
  for (let y = 0; y < size; y++) {
    raw[y * (size * 3 + 1)] = 0; // filter: none
    rgb.copy(raw, y * (size * 3 + 1) + 1, y * size * 3, (y + 1) * size * 3);
  }
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk("IHDR", header), chunk("IDAT", deflateSync(raw, { level: 9 })),
                        chunk("IEND", Buffer.alloc(0))]);
}

const SUMMER = [47, 125, 72];
const WINTER = [226, 236, 245];
const SUN = [246, 190, 60];

// Colour at (u, v) in [0, 1]²; `inset` shrinks the drawing into the middle (the safe zone of maskable icons).
function colour(u, v, inset) {
  const s = (x) => (x - inset) / (1 - 2 * inset);
  const [x, y] = [s(u), s(v)];
  const dx = x - 0.34, dy = y - 0.34;
  if (dx * dx + dy * dy < 0.14 * 0.14) return SUN;
  return x + y < 1 ? SUMMER : WINTER;
}

/** A size×size icon, 4×4 supersampled for smooth edges. */
export function drawIcon(size, inset = 0) {
  const rgb = Buffer.alloc(size * size * 3);
  const n = 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const sum = [0, 0, 0];
      for (let j = 0; j < n; j++) {
        for (let i = 0; i < n; i++) {
          const c = colour((x + (i + 0.5) / n) / size, (y + (j + 0.5) / n) / size, inset);
          sum[0] += c[0]; sum[1] += c[1]; sum[2] += c[2];
        }
      }
      const o = (y * size + x) * 3;
      for (let k = 0; k < 3; k++) rgb[o + k] = Math.round(sum[k] / (n * n));
    }
  }
  return encodePng(rgb, size);
}

/** The icons the manifest names: file name -> PNG bytes. */
export function icons() {
  return {
    "icon-192.png": drawIcon(192),
    "icon-512.png": drawIcon(512),
    "icon-maskable-512.png": drawIcon(512, 0.1),
  };
}
