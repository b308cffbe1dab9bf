import { EventCatalog } from "./catalog.ts";
import { orgEvents } from "./families/org.ts";
import { userEvents } from "./families/user.ts";
import { userGrantEvents } from "./families/usergrant.ts";
import { projectEvents } from "./families/project.ts";
import { sessionEvents } from "./families/session.ts";
import { authMethodEvents } from "./families/auth-method.ts";
import { patEvents } from "./families/pat.ts";
import { lockoutEvents } from "./families/lockout.ts";

export * from "./avro.ts";
export * from "./catalog.ts";
export * from "./define.ts";
export * from "./envelope.ts";
export * from "./position.ts";
export * from "./families/org.ts";
export * from "./families/user.ts";
export * from "./families/usergrant.ts";
export * from "./families/project.ts";
export * from "./families/session.ts";
export * from "./families/auth-method.ts";
export * from "./families/pat.ts";
export * from "./families/lockout.ts";

/** Every event of the wire contract. A new family is one import and one spread here. */
export const allEvents = [...userEvents, ...orgEvents, ...sessionEvents, ...authMethodEvents, ...userGrantEvents, ...projectEvents, ...patEvents, ...lockoutEvents];

export const catalog = new EventCatalog(allEvents);
