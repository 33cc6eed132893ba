import { ApiError, errorOf } from "./errors.ts";

type Answer = { data?: unknown; error?: unknown; response: Response };

/**
 * The success body of a typed call, or the ApiError of its failure thrown:
 * `const brand = await unwrap(admin.POST("/v1/brands", { body }))`.
 */
export async function unwrap<R extends Answer>(pending: Promise<R>): Promise<Exclude<R["data"], undefined>> {
  const { data, error, response } = await pending;
  if (response.ok) return data as Exclude<R["data"], undefined>;
  throw error instanceof ApiError ? error : errorOf(response.status, error, response.statusText);
}
