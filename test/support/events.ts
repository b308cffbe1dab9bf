import type { AvroField, AvroRecordValue, EventDefinition } from "@idp/events";
import { type EventToPublish, event } from "@idp/producer";

/**
 * The events of one aggregate, with increasing sequences and times:
 *   const u = aggregate("inst-1", "user-1", "org-1"); u(ev.userHumanAdded, {...}); u(ev.userLocked, {});
 */
export function aggregate(instanceId: string, aggregateId: string, resourceOwner: string, start = Date.parse("2026-03-01T10:00:00Z")) {
  let sequence = 0;
  return <F extends readonly AvroField[]>(definition: EventDefinition<string, F>, payload: AvroRecordValue<F>): EventToPublish =>
    event(definition, { instanceId, aggregateId, resourceOwner, aggregateSequence: ++sequence, createdAt: new Date(start + sequence * 1000) }, payload);
}
