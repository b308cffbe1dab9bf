import { EventCatalog } from "./catalog.ts";
import { orgEvents } from "./families/org.ts";
import { userEvents } from "./families/user.ts";

export * from "./avro.ts";
export * from "./catalog.ts";
export * from "./define.ts";
export * from "./envelope.ts";
export * from "./position.ts";
export * from "./families/org.ts";
export * from "./families/user.ts";

/** Every event of the wire contract. A new family is one import and one spread here. */
export const allEvents = [...userEvents, ...orgEvents];

export const catalog = new EventCatalog(allEvents);
