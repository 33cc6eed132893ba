import {
  type BodyContentType,
  bodyTemplateError,
  POSTBACK_MACROS,
  unknownMacros,
} from "@roundtrip/contracts";
import { HttpError } from "@roundtrip/service";

/** A template is checked when saved: unknown macros are an error, and a POST body must render. */
export function checkTemplate(t: {
  url_template: string;
  method: "GET" | "POST";
  body_template: string | null;
  content_type: BodyContentType;
}): void {
  const unknown = unknownMacros(t.url_template, POSTBACK_MACROS);
  if (unknown.length)
    throw new HttpError(
      400,
      "invalid_request",
      `unknown macro {${unknown[0]}} in url_template`,
      "url_template",
    );
  if (t.body_template !== null) {
    if (t.method !== "POST")
      throw new HttpError(400, "invalid_request", "body_template needs method POST", "body_template");
    const error = bodyTemplateError(t.body_template, t.content_type);
    if (error) throw new HttpError(400, "invalid_request", `${error} in body_template`, "body_template");
  }
}
