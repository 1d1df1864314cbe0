/**
 * `table[key]` when `key` is one of the table's own entries, else undefined. For a lookup by a key
 * that came from outside (a URL, an event type, a status in a signed payload): a plain object
 * also "has" `constructor`, `__proto__`, `toString`… from Object.prototype, and those are not
 * entries (an event of type `constructor` found Object() as its handler).
 */
export const ownValue = <T>(table: Readonly<Record<string, T>>, key: string): T | undefined => (Object.hasOwn(table, key) ? table[key] : undefined);
