// Personal access token events (aggregate type `user`: a PAT belongs to the user aggregate, owner = the
// user's org), fields as in ZITADEL's internal/repository/user (PersonalAccessTokenAdded/RemovedEvent).
// ZITADEL names them `user.pat.*`; the longer `user.personal.access.token.*` names are accepted as
// aliases. The events carry the token's id only: the token material is handed to the client once and
// never written to the stream.
import { field, optional } from "../avro.ts";
import { defineEvent } from "../define.ts";

export const userPatAdded = defineEvent({
  type: "user.pat.added",
  aliases: ["user.personal.access.token.added"],
  aggregateType: "user",
  fields: [
    field("tokenId", "string"),
    // ZITADEL sets 9999-12-31 when the token does not expire, so the field is always present.
    { name: "expiration", type: "long", doc: "expiration time, epoch milliseconds" },
    // omitempty in ZITADEL: absent means "no scopes".
    optional("scopes", { type: "array", items: "string" }),
  ],
});

export const userPatRemoved = defineEvent({
  type: "user.pat.removed",
  aliases: ["user.personal.access.token.removed"],
  aggregateType: "user",
  fields: [field("tokenId", "string")],
});

export const patEvents = [userPatAdded, userPatRemoved] as const;
