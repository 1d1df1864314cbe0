/**
 * JSON text that goes into a response as it is, without being parsed and
 * serialised again: a stored Stripe payload can be nested deeper than
 * JSON.stringify's recursion allows, and it is valid JSON already.
 */
export class RawJson {
  constructor(readonly text: string) {}
}

/** JSON.stringify, with every RawJson value spliced in verbatim. */
export function stringifyWithRaw(value: unknown): string {
  const raws: string[] = [];
  const marker = (i: number) => `\u0000raw:${i}\u0000`;
  const text = JSON.stringify(value, (_key, v: unknown) => (v instanceof RawJson ? marker(raws.push(v.text) - 1) : v));
  return text.replace(/"\\u0000raw:(\d+)\\u0000"/g, (_match, i: string) => raws[Number(i)]!);
}
