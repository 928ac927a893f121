// One error type for everything the console shows: the API's own errors keep their code and request id.

// The SQL guard's syntax errors say where: "Syntax error at line 2, column 8: …".
const POSITION = /\bline (\d+), column (\d+)\b/;

export class ApiError extends Error {
  /** `details`: what else the error says besides its code, message and request id (budget_exceeded's remaining_scan_bytes, resets_at). */
  constructor({ status = 0, code, message, requestId = null, details = {} }) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.requestId = requestId;
    this.details = details;
    const position = POSITION.exec(message ?? "");
    this.line = position ? Number(position[1]) : null;
    this.column = position ? Number(position[2]) : null;
  }
}

/**
 * The error of a finished fetch Response: API.md's shape when the body has it; otherwise one made
 * from the status (a proxy's or the gateway's page, an empty body).
 */
export async function errorFromResponse(response) {
  const headerId = response.headers.get("x-request-id");
  let body = null;
  try {
    body = await response.json();
  } catch {
    // not JSON: described from the status below
  }
  const error = body && typeof body === "object" ? body.error : null;
  if (error && typeof error.code === "string" && typeof error.message === "string") {
    const { code, message, request_id: requestId, ...details } = error;
    return new ApiError({ status: response.status, code, message, requestId: requestId ?? headerId, details });
  }
  return new ApiError({
    status: response.status,
    code: response.status >= 500 ? "service_unavailable" : "unexpected_response",
    message: `The platform answered ${response.status} ${response.statusText || ""}`.trim() + ", without an explanation. Try again.",
    requestId: headerId,
  });
}

/** A request that never got an answer: offline, refused, blocked. */
export function networkError(cause) {
  return new ApiError({
    code: "network_error",
    message: `The platform could not be reached (${cause?.message ?? cause}). Check the connection and try again.`,
  });
}

/** What a person reads: the message, then the request id to quote when asking for help. */
export function describe(error) {
  if (error instanceof ApiError) {
    return { message: error.message, code: error.code, requestId: error.requestId };
  }
  return { message: String(error?.message ?? error), code: "console_error", requestId: null };
}
