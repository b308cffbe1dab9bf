// User metadata events (aggregate type `user`): key/value pairs an application stores on a user, with
// ZITADEL's fields. The value is opaque bytes (JSON carries them as base64; Avro as bytes).
import { field } from "../avro.ts";
import { defineEvent } from "../define.ts";

export const userMetadataSet = defineEvent({
  type: "user.metadata.set",
  aggregateType: "user",
  fields: [field("key", "string"), field("value", "bytes")],
});
export const userMetadataRemoved = defineEvent({
  type: "user.metadata.removed",
  aggregateType: "user",
  fields: [field("key", "string")],
});
export const userMetadataRemovedAll = defineEvent({
  type: "user.metadata.removed.all",
  aggregateType: "user",
  fields: [],
});

export const userMetadataEvents = [userMetadataSet, userMetadataRemoved, userMetadataRemovedAll] as const;
