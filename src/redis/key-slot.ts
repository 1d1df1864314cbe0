/**
 * Redis Cluster's key → slot mapping (the cluster spec: CRC16-XMODEM of the key, or of its hash
 * tag, modulo 16384), so the queue layout can check before start-up that each queue's keys share
 * a slot and that the event queue's shards do not.
 */

export const CLUSTER_SLOTS = 16384;

function crc16(text: string): number {
  let crc = 0;
  for (const byte of Buffer.from(text, 'utf8')) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/**
 * The part of a key Redis hashes: what is between the first `{` and the first `}` after it, when
 * that is not empty; else the whole key.
 */
export function hashedPart(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  if (close < 0 || close === open + 1) return key;
  return key.slice(open + 1, close);
}

export const keySlot = (key: string): number => crc16(hashedPart(key)) % CLUSTER_SLOTS;
