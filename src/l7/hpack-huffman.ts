/**
 * HPACK's Huffman code (RFC 7541 Appendix B). The code is canonical, so the code lengths of
 * the 256 octets and EOS are all it takes: codes are assigned in order of (length, symbol).
 * Decoding walks a nibble table (4 bits a step; no code is shorter than 5 bits, so a step
 * emits at most one symbol), built once from the tree of those codes.
 */

/** Code length per symbol 0-255, then EOS (256). RFC 7541 Appendix B. */
const LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;

/** The canonical codes: CODES[symbol] is `LENGTHS[symbol]` bits long. */
export const HUFFMAN_CODES: readonly number[] = (() => {
  const order = LENGTHS.map((length, symbol) => ({ length, symbol })).sort((a, b) => a.length - b.length || a.symbol - b.symbol);
  const codes = new Array<number>(LENGTHS.length);
  let code = 0;
  let length = order[0]?.length ?? 0;
  for (const entry of order) {
    code *= 2 ** (entry.length - length);
    length = entry.length;
    codes[entry.symbol] = code;
    code++;
  }
  return codes;
})();
export const HUFFMAN_LENGTHS: readonly number[] = LENGTHS;

/** Thrown on a Huffman string that is not valid (EOS inside, padding that is not EOS's prefix or longer than 7 bits). */
export class HuffmanError extends Error {}

// The tree: node 0 is the root; child[2n + bit]; leaf[n] = symbol or -1.
const child: number[] = [0, 0];
const leaf: number[] = [-1];
for (let symbol = 0; symbol < LENGTHS.length; symbol++) {
  let node = 0;
  const length = LENGTHS[symbol] as number;
  const code = HUFFMAN_CODES[symbol] as number;
  for (let i = length - 1; i >= 0; i--) {
    const bit = Math.floor(code / 2 ** i) & 1;
    let next = child[2 * node + bit] as number;
    if (next === 0) {
      next = leaf.length;
      leaf.push(i === 0 ? symbol : -1);
      child.push(0, 0);
      child[2 * node + bit] = next;
    }
    node = next;
  }
}

// Internal nodes numbered 0..255 for the nibble table; `accepting`: reached from the root by
// at most 7 one-bits (a valid end of string: the padding is a prefix of EOS).
const internal: number[] = [];
const internalId = new Map<number, number>();
for (let n = 0; n < leaf.length; n++) if (leaf[n] === -1) internalId.set(n, internal.push(n) - 1);
const accepting = new Uint8Array(internal.length);
for (let n = 0, depth = 0; depth <= 7 && leaf[n] === -1; n = child[2 * n + 1] as number, depth++) accepting[internalId.get(n) as number] = 1;

/** Per (state, nibble): next state, the symbol emitted (or -1), and 1 when the nibble decodes EOS. */
const NEXT = new Uint16Array(internal.length * 16);
const EMIT = new Int16Array(internal.length * 16);
const FAIL = new Uint8Array(internal.length * 16);
for (let s = 0; s < internal.length; s++) {
  for (let nibble = 0; nibble < 16; nibble++) {
    let node = internal[s] as number;
    let emit = -1;
    let fail = 0;
    for (let b = 3; b >= 0; b--) {
      node = child[2 * node + ((nibble >> b) & 1)] as number;
      const symbol = leaf[node] as number;
      if (symbol >= 0) {
        if (symbol === EOS) fail = 1;
        emit = symbol;
        node = 0;
      }
    }
    NEXT[s * 16 + nibble] = internalId.get(node) as number;
    EMIT[s * 16 + nibble] = emit;
    FAIL[s * 16 + nibble] = fail;
  }
}

/** Decodes a Huffman-coded string (as latin1: one char per octet). Throws HuffmanError. */
export function huffmanDecode(buf: Buffer, start: number, end: number): string {
  let state = 0;
  let out = '';
  for (let i = start; i < end; i++) {
    const byte = buf[i] as number;
    let at = state * 16 + (byte >> 4);
    if (FAIL[at]) throw new HuffmanError('EOS in a Huffman string');
    let symbol = EMIT[at] as number;
    if (symbol >= 0) out += String.fromCharCode(symbol);
    at = (NEXT[at] as number) * 16 + (byte & 15);
    if (FAIL[at]) throw new HuffmanError('EOS in a Huffman string');
    symbol = EMIT[at] as number;
    if (symbol >= 0) out += String.fromCharCode(symbol);
    state = NEXT[at] as number;
  }
  if (!accepting[state]) throw new HuffmanError('invalid Huffman padding');
  return out;
}

/** Huffman-encodes a latin1 string (one octet per char), padded with EOS's leading ones. */
export function huffmanEncode(text: string): Buffer {
  let bits = 0;
  for (let i = 0; i < text.length; i++) bits += LENGTHS[text.charCodeAt(i) & 0xff] as number;
  const out = Buffer.alloc(Math.ceil(bits / 8));
  let acc = 0;
  let have = 0;
  let p = 0;
  for (let i = 0; i < text.length; i++) {
    const symbol = text.charCodeAt(i) & 0xff;
    const length = LENGTHS[symbol] as number;
    const code = HUFFMAN_CODES[symbol] as number;
    // Codes are up to 30 bits: feed them in parts so that `acc` stays below 2^31.
    for (let left = length; left > 0; ) {
      const take = Math.min(left, 8);
      left -= take;
      acc = (acc << take) | (Math.floor(code / 2 ** left) & ((1 << take) - 1));
      have += take;
      while (have >= 8) {
        have -= 8;
        out[p++] = (acc >> have) & 0xff;
      }
      acc &= (1 << have) - 1;
    }
  }
  if (have > 0) out[p] = ((acc << (8 - have)) | ((1 << (8 - have)) - 1)) & 0xff;
  return out;
}
