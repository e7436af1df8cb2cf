// Talking to the function: the password header, JSON errors, waiting while the server is busy,
// and cancelling (every call takes an AbortSignal).

const MAX_BUSY_RETRIES = 5;

export class ApiError extends Error {
  /** status: HTTP status (0: no answer); code: the server's error code or a local one. */
  constructor(status, code, message, details = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }

  get cancelled() { return this.code === "cancelled"; }
  /** The named upload is gone from the server (expired, deleted or evicted). */
  get gone() { return this.status === 410 || this.status === 404; }
}

export const session = {
  password: null,
  /** Called when the server refuses the password (the page goes back to sign-in). */
  onUnauthorized: () => {},
  /** Called with a number of seconds while waiting for a busy server, and null after. */
  onBusy: () => {},
};

function cancelled() {
  return new ApiError(0, "cancelled", "Cancelled.");
}

async function parseJson(response) {
  try { return await response.json(); } catch { return null; }
}

function errorFrom(response, body) {
  const error = body && body.error;
  if (error && error.message) return new ApiError(response.status, error.code || "error", error.message, error.details);
  return new ApiError(response.status, `http_${response.status}`,
    `The server answered with an error (HTTP ${response.status}). Please try again.`);
}

function wait(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) { reject(cancelled()); return; }
    const timer = setTimeout(resolve, ms);
    if (signal) signal.addEventListener("abort", () => { clearTimeout(timer); reject(cancelled()); }, { once: true });
  });
}

/**
 * One call with the password. json: a body sent as JSON; form: FormData; raw: resolve with
 * { blob, headers } instead of parsed JSON. Retries a 503 that names a wait (Retry-After).
 */
export async function call(path, { method = "GET", json, form, signal, raw = false } = {}) {
  const headers = { "X-App-Password": session.password || "" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form) {
    body = form;
  }
  for (let attempt = 0; ; attempt++) {
    let response;
    try {
      response = await fetch(path, { method, headers, body, signal, cache: "no-store" });
    } catch (error) {
      if (signal && signal.aborted) throw cancelled();
      throw new ApiError(0, "network", "Cannot reach the server. Check your connection and try again.");
    }
    if (response.ok) {
      try {
        if (raw) return { blob: await response.blob(), headers: response.headers };
        return await response.json();
      } catch (error) {
        if (signal && signal.aborted) throw cancelled();
        throw new ApiError(0, "network", "The answer was cut off. Please try again.");
      }
    }
    const data = await parseJson(response);
    if (response.status === 401) {
      session.onUnauthorized();
      throw new ApiError(401, "unauthorized", "Please sign in again.");
    }
    // Only a 503 that names a wait is "busy"; other 503s are final.
    const retryAfter = parseInt(response.headers.get("Retry-After") || "", 10);
    if (response.status === 503 && Number.isFinite(retryAfter) && attempt < MAX_BUSY_RETRIES) {
      try {
        for (let left = Math.max(1, retryAfter); left > 0; left--) {
          session.onBusy(left);
          await wait(1000, signal);
        }
      } finally {
        session.onBusy(null);
      }
      continue;
    }
    throw errorFrom(response, data);
  }
}

/** Asks /health whether `password` opens the function: null when it does, else a message. */
export async function checkPassword(password) {
  let response;
  try {
    response = await fetch("/health", { headers: { "X-App-Password": password }, cache: "no-store" });
  } catch {
    return "Cannot reach the server. Check your connection and try again.";
  }
  const data = await parseJson(response);
  const code = data && data.error ? data.error.code : null;
  if ((data && data.auth_configured === false) || code === "auth_not_configured") {
    return "The operator must set a password (APP_PASSWORD) on the server before anyone can sign in.";
  }
  if (response.status === 401) return "Wrong password.";
  if (data && data.authenticated === true) return null;
  if (data && data.error) return errorFrom(response, data).message;
  if (!response.ok) return `The server is not ready (HTTP ${response.status}). Please try again in a minute.`;
  return "Wrong password.";
}

/** The settings' schema and the upload limits: { settings: [...], limits: {max_upload_mb, max_pixels, upload_ttl_s} }. */
export async function settingsSchema() {
  const response = await fetch("/settings-schema", { cache: "no-cache" });
  if (!response.ok) throw errorFrom(response, await parseJson(response));
  return response.json();
}

export function upload(file, kind, signal) {
  const form = new FormData();
  form.append("image", file, file.name || `${kind}.png`);
  form.append("kind", kind);
  return call("/upload", { method: "POST", form, signal });
}

export function processJson(body, signal) {
  return call("/process", { method: "POST", json: body, signal });
}

export function processRaw(body, signal) {
  return call("/process", { method: "POST", json: { ...body, output: { ...(body.output || {}), raw: true } }, signal, raw: true });
}

export async function health(signal) {
  try {
    const response = await fetch("/health", { headers: { "X-App-Password": session.password || "" }, cache: "no-store", signal });
    return await parseJson(response);
  } catch {
    return null;
  }
}
