import { describe, expect, test } from "bun:test";
import { AD_CLICK_PARAMS, renderUrl, stripUnstorable, unstorable } from "@roundtrip/contracts";
import { compileDestination, SUB_KEYS, subsFromUrl } from "./redirect.ts";

/** What the fast paths must equal: URLSearchParams and renderUrl over the whole template. */
function referenceSubs(url: string): Record<string, string> {
  const q = new URL(url).searchParams;
  const subs: Record<string, string> = {};
  for (const key of [...SUB_KEYS, ...AD_CLICK_PARAMS]) {
    const v = stripUnstorable(q.get(key)?.slice(0, 255) ?? "");
    if (v) subs[key] = v;
  }
  return subs;
}

function referenceDestination(
  template: string,
  param: string,
  clickId: string,
  subs: Record<string, string>,
): string {
  const rendered = renderUrl(template, {
    click_id: clickId,
    affiliate_id: "7",
    offer_id: "3",
    brand: "casino",
    ...Object.fromEntries(SUB_KEYS.map((k) => [k, subs[k] ?? null])),
  });
  if (template.includes("{click_id}")) return rendered;
  const url = new URL(rendered);
  url.searchParams.set(param, clickId);
  return url.toString();
}

const QUERIES = [
  "",
  "?sub1=news",
  "?sub1=a+b%20c&sub2=%F0%9F%99%82&sub3=",
  "?sub1=first&sub1=second",
  "?sub10=ten&sub11=eleven&subx=1&sub=2",
  "?%73ub1=encoded-key&sub2=x",
  "?sub1=bad%E0%A4%Aescape&sub2=%ZZ",
  `?sub1=${"z".repeat(300)}`,
  "?url=https://evil.example&sub1=a%26b%3Dc&x=1#frag",
  "?sub1&sub2=&sub3==eq",
  "?sub4=%3Cscript%3Ealert(1)%3C%2Fscript%3E&sub5='%20OR%201=1--",
  "?sub1=a%00b&sub2=%00&sub3=%ED%A0%80",
  `?sub1=${"z".repeat(254)}%F0%9F%99%82&sub2=${"y".repeat(253)}%F0%9F%99%82`,
];

const TEMPLATES = [
  "https://casino.example/land?cid={click_id}&a={affiliate_id}&o={offer_id}&b={brand}&s1={sub1}&s2={sub2}&s10={sub10}",
  "https://casino.example/{sub1}/path?x={unknown}&cid={click_id}",
  "https://shop.example/p?ref=aff&s={sub3}",
  "https://shop.example/p?clickid=old&q=a%20b",
  "https://shop.example/p",
];

describe("fast paths equal the reference implementations", () => {
  test("sub IDs from the query", () => {
    for (const q of QUERIES)
      expect(subsFromUrl(`http://t.example/c/x${q}`)).toEqual(referenceSubs(`http://t.example/c/x${q}`));
  });

  test("no sub ID keeps a NUL or half an emoji: PostgreSQL would refuse the whole batch", () => {
    for (const q of QUERIES)
      for (const value of Object.values(subsFromUrl(`http://t.example/c/x${q}`)))
        expect(unstorable(value)).toBeNull();
    expect(subsFromUrl("http://t.example/c/x?sub1=a%00b")).toEqual({ sub1: "ab" });
  });

  test("the ad platforms' click IDs are kept beside the sub IDs; other parameters are not", () => {
    expect(
      subsFromUrl("http://t.example/c/x?sub1=a&fbclid=IwAR1&gclid=Cj0K&ttclid=E.C.P&utm_source=fb&wbraid=w1"),
    ).toEqual({ sub1: "a", fbclid: "IwAR1", gclid: "Cj0K", ttclid: "E.C.P", wbraid: "w1" });
  });

  test("compiled destinations", () => {
    const clickId = "ARtrAPXaAAAAAAGoh4cjJKJ6H0ipVUyn5ST7";
    for (const template of TEMPLATES) {
      const compiled = compileDestination({
        destinationUrl: template,
        clickIdParam: "clickid",
        affiliateId: "7",
        offerId: "3",
        brand: "casino",
      });
      for (const q of QUERIES) {
        const subs = subsFromUrl(`http://t.example/c/x${q}`);
        expect(compiled(clickId, subs)).toBe(referenceDestination(template, "clickid", clickId, subs));
      }
    }
  });
});
