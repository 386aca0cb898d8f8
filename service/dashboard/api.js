// Reading the w2s service's JSON API (see /v1/openapi.json).
//
// Every failure becomes an ApiError whose message names the URL and what
// went wrong (network, HTTP status with the server's own error message,
// or a body that is not JSON), so pages can show it as it is.

import { parseJson } from './exact_json.js';

/** A failed API call: `status` is the HTTP status, or 0 when none came. */
export class ApiError extends Error {
  constructor(url, status, detail) {
    super(`${url}: ${detail}`);
    this.name = 'ApiError';
    this.url = url;
    this.status = status;
  }
}

// The server's `{"error": {"code", "message"}}` body, as one line.
function errorDetail(status, text) {
  let detail = `HTTP ${status}`;
  try {
    const body = JSON.parse(text);
    const err = body && body.error;
    if (err && typeof err.message === 'string') {
      detail += typeof err.code === 'string' ? ` ${err.code}: ${err.message}` : `: ${err.message}`;
    }
  } catch (_) {
    // Not JSON: the status alone says enough.
  }
  return detail;
}

/** GETs `url` and parses its JSON body (integers kept exact). */
export async function getJson(url) {
  let response;
  try {
    response = await fetch(url, { headers: { accept: 'application/json' }, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(url, 0, `network error: ${e.message}`);
  }
  const text = await response.text();
  if (!response.ok) throw new ApiError(url, response.status, errorDetail(response.status, text));
  try {
    return parseJson(text);
  } catch (e) {
    throw new ApiError(url, response.status, `the response is not JSON (${e.message})`);
  }
}
