import { EventCatalog } from "./catalog.ts";
import { authMethodEvents } from "./families/auth-method.ts";
import { idpLinkEvents } from "./families/idp-link.ts";
import { lockoutEvents } from "./families/lockout.ts";
import { orgEvents } from "./families/org.ts";
import { orgProjectNameEvents } from "./families/org-project-names.ts";
import { patEvents } from "./families/pat.ts";
import { projectEvents } from "./families/project.ts";
import { sessionEvents } from "./families/session.ts";
import { userEvents } from "./families/user.ts";
import { userMetadataEvents } from "./families/user-metadata.ts";
import { userGrantEvents } from "./families/usergrant.ts";

export * from "./avro.ts";
export * from "./catalog.ts";
export * from "./define.ts";
export * from "./envelope.ts";
export * from "./families/auth-method.ts";
export * from "./families/idp-link.ts";
export * from "./families/lockout.ts";
export * from "./families/org.ts";
export * from "./families/org-project-names.ts";
export * from "./families/pat.ts";
export * from "./families/project.ts";
export * from "./families/session.ts";
export * from "./families/user.ts";
export * from "./families/user-metadata.ts";
export * from "./families/usergrant.ts";
export * from "./limits.ts";
export * from "./partition.ts";
export * from "./position.ts";

/** Every event of the wire contract. A new family is one import and one spread here. */
export const allEvents = [
  ...userEvents,
  ...orgEvents,
  ...sessionEvents,
  ...authMethodEvents,
  ...userGrantEvents,
  ...projectEvents,
  ...patEvents,
  ...lockoutEvents,
  ...userMetadataEvents,
  ...idpLinkEvents,
  ...orgProjectNameEvents,
];

export const catalog = new EventCatalog(allEvents);
