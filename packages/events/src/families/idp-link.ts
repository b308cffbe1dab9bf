// Links between a user and its account at an external identity provider (aggregate type `user`), and the
// removals of IdP configurations that drop the links to them (aggregate `org` or `instance`). ZITADEL
// names the link events `user.human.externalidp.*`; the shorter `user.idp.link.*` names are accepted as
// aliases. `userId` is the user's id AT THE IdP (ZITADEL's ExternalUserID), not the user aggregate's id.
import { field, optional } from "../avro.ts";
import { defineEvent } from "../define.ts";

const linkFields = [field("idpConfigId", "string"), field("userId", "string")] as const;

export const userIdpLinkAdded = defineEvent({
  type: "user.human.externalidp.added",
  aliases: ["user.idp.link.added"],
  aggregateType: "user",
  fields: [...linkFields, optional("displayName", "string")],
});
export const userIdpLinkRemoved = defineEvent({
  type: "user.human.externalidp.removed",
  aliases: ["user.idp.link.removed"],
  aggregateType: "user",
  fields: linkFields,
});
/** Emitted for each link when its IdP configuration is removed. */
export const userIdpLinkCascadeRemoved = defineEvent({
  type: "user.human.externalidp.cascade.removed",
  aliases: ["user.idp.link.cascade.removed"],
  aggregateType: "user",
  fields: linkFields,
});
/** The IdP's id of the user changed (ZITADEL migrates links this way); it has no v1-style alias. */
export const userIdpLinkIdMigrated = defineEvent({
  type: "user.human.externalidp.id.migrated",
  aggregateType: "user",
  fields: [field("idpConfigId", "string"), field("previousId", "string"), field("newId", "string")],
});

// IdP configurations: the older `idp.config` events carry `idpConfigId`, the newer `idp` (template)
// events carry `id`.
export const orgIdpConfigRemoved = defineEvent({ type: "org.idp.config.removed", aggregateType: "org", fields: [field("idpConfigId", "string")] });
export const instanceIdpConfigRemoved = defineEvent({
  type: "instance.idp.config.removed",
  aggregateType: "instance",
  fields: [field("idpConfigId", "string")],
});
export const orgIdpRemoved = defineEvent({ type: "org.idp.removed", aggregateType: "org", fields: [field("id", "string")] });
export const instanceIdpRemoved = defineEvent({ type: "instance.idp.removed", aggregateType: "instance", fields: [field("id", "string")] });

export const idpLinkEvents = [
  userIdpLinkAdded,
  userIdpLinkRemoved,
  userIdpLinkCascadeRemoved,
  userIdpLinkIdMigrated,
  orgIdpConfigRemoved,
  instanceIdpConfigRemoved,
  orgIdpRemoved,
  instanceIdpRemoved,
] as const;
