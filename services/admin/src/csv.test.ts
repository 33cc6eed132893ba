import { expect, test } from "bun:test";
import { csvStream } from "./csv.ts";

test("a streamed CSV whose first page fails is an error before any answer starts", async () => {
  // biome-ignore lint/correctness/useYield: the first page fails before anything is yielded.
  const failing = async function* (): AsyncGenerator<unknown[][]> {
    throw new Error("the query failed");
  };
  await expect(csvStream(["id"], failing(), "x.csv")).rejects.toThrow("the query failed");
  const pages = async function* () {
    yield [["1"], ["2"]];
    yield [["3"]];
  };
  const res = await csvStream(["id"], pages(), "x.csv");
  expect(res.headers.get("content-type")).toStartWith("text/csv");
  expect(await res.text()).toBe("id\n1\n2\n3\n");
});
