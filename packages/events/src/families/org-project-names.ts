// The names of orgs and projects, for read models that show them beside rows of other aggregates (user
// grants show their org's and project's names). Field names as ZITADEL's org and project events use them.
import { field, optional } from "../avro.ts";
import { defineEvent } from "../define.ts";

export const orgAdded = defineEvent({ type: "org.added", aggregateType: "org", fields: [field("name", "string")] });
export const orgChanged = defineEvent({ type: "org.changed", aggregateType: "org", fields: [field("name", "string")] });
/** Only the fields present changed; an absent name keeps the project's name. */
export const projectChanged = defineEvent({ type: "project.changed", aggregateType: "project", fields: [optional("name", "string")] });

export const orgProjectNameEvents = [orgAdded, orgChanged, projectChanged] as const;
