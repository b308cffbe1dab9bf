// Position tokens: where a published event landed (topic, partition, offset). The producer SDK returns
// them; query APIs accept them (X-Min-Position) to wait until the projection has applied that event.
export interface Position {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

const TOKEN = /^([A-Za-z0-9._-]{1,249}):(\d{1,5}):(\d{1,19})$/;

export const formatPosition = (p: Position) => `${p.topic}:${p.partition}:${p.offset}`;

/** Parses `topic:partition:offset`; undefined when malformed. */
export function parsePosition(token: string): Position | undefined {
  const m = TOKEN.exec(token);
  if (!m) return undefined;
  return { topic: m[1] as string, partition: Number(m[2]), offset: BigInt(m[3] as string).toString() };
}
