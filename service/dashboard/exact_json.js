// JSON parsing that keeps every integer exact.
//
// A report's seeds are u64 values (e.g. 14573162148744131541) that a
// JavaScript number cannot hold: JSON.parse would silently round them to
// another seed. parseJson reads the text like JSON.parse, except that an
// integer literal outside the safe range (|n| > 2^53 - 1) becomes its
// decimal string, so it is shown digit for digit. Everything else is
// unchanged, and invalid JSON throws JSON.parse's SyntaxError.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MINUS = 0x2d;

function isDigit(c) {
  return c >= 0x30 && c <= 0x39;
}

// Whether `c` may continue a number token (digits, '.', 'e', 'E', '+', '-').
function inNumber(c) {
  return isDigit(c) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === MINUS;
}

/** Parses `text` as JSON, keeping unsafe integers as decimal strings. */
export function parseJson(text) {
  const parts = [];
  let last = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i += 1;
      while (i < n && text.charCodeAt(i) !== QUOTE) {
        i += text.charCodeAt(i) === BACKSLASH ? 2 : 1;
      }
      i += 1;
    } else if (c === MINUS || isDigit(c)) {
      const start = i;
      i += 1;
      while (i < n && inNumber(text.charCodeAt(i))) i += 1;
      const token = text.slice(start, i);
      if (/^-?[0-9]+$/.test(token) && !Number.isSafeInteger(Number(token))) {
        parts.push(text.slice(last, start), '"', token, '"');
        last = i;
      }
    } else {
      i += 1;
    }
  }
  if (last === 0) return JSON.parse(text);
  parts.push(text.slice(last));
  return JSON.parse(parts.join(''));
}
