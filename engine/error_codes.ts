// The spec's error vocabulary, shared by the API (bodies, statuses) and the
// engine (which fails requests with these codes).
export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  not_found: 404,
  model_not_found: 404,
  method_not_allowed: 405,
  /** A plain GET of the WebSocket stream's URL. */
  upgrade_required: 426,
  payload_too_large: 413,
  unsupported_media_type: 415,
  /** A hot reload found the model's new files unusable; the old version keeps serving. */
  reload_failed: 422,
  inference_failed: 500,
  overloaded: 503,
  not_ready: 503,
  /** State the request would change cannot be saved (DATA_DIR unwritable, disk full). */
  storage_unavailable: 503,
  deadline_exceeded: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
