import { createHash } from 'node:crypto';

/**
 * HMAC-SHA256 (RFC 2104, FIPS 180-4) of many short messages under one key, as lowercase hex.
 *
 * Why not node:crypto: an export computes one pseudonym per member, and `createHmac` costs 2-3 µs a
 * call, mostly in creating the Hmac object and re-reading the key, against about 1 µs here. The
 * key's inner and outer pad blocks are compressed once; a user id of up to 55 bytes then takes one
 * block for the inner hash and one for the outer. test/export/fast-paths.test.ts checks results
 * against node:crypto for messages of every length around the block boundaries, non-ASCII text,
 * and keys shorter than, as long as and longer than a block.
 */

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
  0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
  0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
  0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
  0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
  0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const BLOCK = 64;

/** The message schedule, reused by every compression (no allocation per block). */
const W = new Int32Array(64);

/** SHA-256's compression function: folds the 16 big-endian words of `words` at `at` into `state`. */
function compress(state: Int32Array, words: Int32Array, at: number): void {
  for (let i = 0; i < 16; i++) W[i] = words[at + i]!;
  for (let i = 16; i < 64; i++) {
    const x = W[i - 15]!;
    const y = W[i - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    W[i] = (W[i - 16]! + s0 + W[i - 7]! + s1) | 0;
  }
  let a = state[0]!;
  let b = state[1]!;
  let c = state[2]!;
  let d = state[3]!;
  let e = state[4]!;
  let f = state[5]!;
  let g = state[6]!;
  let h = state[7]!;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + K[i]! + W[i]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = b;
    b = a;
    a = (t1 + t2) | 0;
  }
  state[0] = (state[0]! + a) | 0;
  state[1] = (state[1]! + b) | 0;
  state[2] = (state[2]! + c) | 0;
  state[3] = (state[3]! + d) | 0;
  state[4] = (state[4]! + e) | 0;
  state[5] = (state[5]! + f) | 0;
  state[6] = (state[6]! + g) | 0;
  state[7] = (state[7]! + h) | 0;
}

/** The hash state after one block of the key XOR `pad`: where every inner (or outer) hash starts. */
function padState(key: Uint8Array, pad: number): Int32Array {
  const block = new Int32Array(16);
  for (let i = 0; i < 16; i++) {
    const w = ((key[4 * i] ?? 0) << 24) | ((key[4 * i + 1] ?? 0) << 16) | ((key[4 * i + 2] ?? 0) << 8) | (key[4 * i + 3] ?? 0);
    block[i] = w ^ pad;
  }
  const state = Int32Array.from(IV);
  compress(state, block, 0);
  return state;
}

const HEX_DIGITS = [48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 97, 98, 99, 100, 101, 102]; // 0-9 a-f

/** A function computing HMAC-SHA256(key, UTF-8 of message) as lowercase hex, like createHmac(...).digest('hex'). */
export function hmacSha256Hex(key: Buffer): (message: string) => string {
  // RFC 2104: a key longer than the block is replaced by its hash; a shorter one is padded with zeros.
  const k = key.length > BLOCK ? createHash('sha256').update(key).digest() : key;
  const inner = padState(k, 0x36363636);
  const outer = padState(k, 0x5c5c5c5c);
  const state = new Int32Array(8);
  const last = new Int32Array(16);
  const hex: number[] = new Array<number>(64).fill(48);
  let bytes = Buffer.alloc(4 * BLOCK);
  let words = new Int32Array(bytes.length / 4);

  /** The message's padded blocks into `words` (see `message`): the general case, any length and text. */
  const padGeneral = (message: string, ascii: boolean): number => {
    const n = ascii ? message.length : Buffer.byteLength(message, 'utf8');
    // The message, 0x80, zeros, and the bit length of ipad block + message in the last 8 bytes.
    const blocks = ((n + 8) >>> 6) + 1;
    if (blocks * BLOCK > bytes.length) {
      bytes = Buffer.alloc(blocks * BLOCK * 2);
      words = new Int32Array(bytes.length / 4);
    }
    // Buffer writes exactly what createHmac().update(message, 'utf8') hashes (lone surrogates as U+FFFD).
    bytes.write(message, 0, 'utf8');
    const end = blocks * BLOCK;
    bytes.fill(0, n, end);
    bytes[n] = 0x80;
    const bits = (BLOCK + n) * 8;
    bytes.writeUInt32BE(Math.floor(bits / 0x100000000), end - 8);
    bytes.writeUInt32BE(bits >>> 0, end - 4);
    for (let i = 0, j = 0; i < end; i += 4, j++) words[j] = (bytes[i]! << 24) | (bytes[i + 1]! << 16) | (bytes[i + 2]! << 8) | bytes[i + 3]!;
    return blocks;
  };

  return (message: string): string => {
    const n = message.length;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (message.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    }
    let blocks = 1;
    if (ascii && n <= 55) {
      // The usual user id: one block, built from the characters directly.
      words.fill(0, 0, 16);
      for (let i = 0; i < n; i++) words[i >>> 2]! |= message.charCodeAt(i) << (24 - 8 * (i & 3));
      words[n >>> 2]! |= 0x80 << (24 - 8 * (n & 3));
      words[15] = (BLOCK + n) * 8;
    } else blocks = padGeneral(message, ascii);

    state.set(inner);
    for (let b = 0; b < blocks; b++) compress(state, words, b * 16);
    // Outer hash: the 32-byte inner digest, 0x80, zeros, and the bit length of opad block + digest.
    for (let i = 0; i < 8; i++) last[i] = state[i]!;
    last[8] = 0x80000000;
    last.fill(0, 9, 15);
    last[15] = (BLOCK + 32) * 8;
    state.set(outer);
    compress(state, last, 0);

    for (let i = 0; i < 8; i++) {
      const w = state[i]!;
      for (let j = 0; j < 8; j++) hex[i * 8 + j] = HEX_DIGITS[(w >>> (28 - 4 * j)) & 0xf]!;
    }
    return String.fromCharCode.apply(null, hex);
  };
}
