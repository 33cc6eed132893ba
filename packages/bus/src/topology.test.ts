import { describe, expect, test } from "bun:test";
import { consumerDef, describeSubject, names, subjects } from "./topology.ts";

describe("topology names", () => {
  test("a prefix namespaces streams with _ and subjects with .", () => {
    const ns = names("p");
    expect(ns.stream("CLICKS")).toBe("p_CLICKS");
    expect(ns.subject("a.b")).toBe("p.a.b");
    expect(ns.logical("p.a.b")).toBe("a.b");
    expect(ns.streamSubjects("POSTBACKS")).toEqual(["p.postbacks.received.*"]);
    expect(ns.streamSubjects("CONVERSIONS")).toEqual(["p.conversions.*.*"]);
  });

  test("the empty prefix leaves plain names", () => {
    const ns = names("");
    expect(ns.stream("DEADLETTER")).toBe("DEADLETTER");
    expect(ns.subject("clicks.recorded")).toBe("clicks.recorded");
    expect(ns.logical("clicks.recorded")).toBe("clicks.recorded");
  });

  test("a prefix that would break subjects or stream names is refused", () => {
    expect(() => names("a.b")).toThrow(TypeError);
    expect(() => names("a b")).toThrow(TypeError);
    expect(() => names("a*")).toThrow(TypeError);
  });
});

describe("subject helpers", () => {
  test("build subjects and refuse tokens that would change the subject's shape", () => {
    expect(subjects.postbackReceived(42)).toBe("postbacks.received.42" as never);
    expect(subjects.conversionChanged("ftd", "approved")).toBe("conversions.ftd.approved" as never);
    expect(() => subjects.postbackReceived("1.2")).toThrow(TypeError);
    expect(() => subjects.postbackReceived("*")).toThrow(TypeError);
    expect(() => subjects.conversionChanged("ftd", "")).toThrow(TypeError);
    expect(() => subjects.configChanged("offers\r\n")).toThrow(TypeError);
  });

  test("describeSubject finds the stream and the template (low-cardinality span names)", () => {
    expect(describeSubject("postbacks.received.42")).toEqual({
      stream: "POSTBACKS",
      template: "postbacks.received.{advertiser}",
    });
    expect(describeSubject("deadletter.CLICKS.attribution-clicks")?.stream).toBe("DEADLETTER");
    expect(describeSubject("nope.x")).toBeUndefined();
  });

  test("a consumer must allow more deliveries than it has backoff steps", () => {
    expect(() =>
      consumerDef("attribution-clicks", { consumers: { "attribution-clicks": { maxDeliver: 2 } } }),
    ).toThrow(RangeError);
  });
});
