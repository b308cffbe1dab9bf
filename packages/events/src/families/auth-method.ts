// Second-factor and passwordless events of the user aggregate (aggregate type `user`), fields as in
// ZITADEL's internal/repository/user. The verified events and the OTP SMS/email "added" events are in
// user.ts (the users read model reacts to them too). Secret material ZITADEL stores in some of these
// payloads (the TOTP secret, recovery codes, WebAuthn challenges) is not part of this contract: no read
// model may keep it, so producers do not send it.
import { field, optional } from "../avro.ts";
import { defineEvent } from "../define.ts";

const noPayload = <const T extends string>(type: T, aliases: string[] = []) => defineEvent({ type, aliases, aggregateType: "user", fields: [] });

export const userHumanMfaOtpAdded = noPayload("user.human.mfa.otp.added", ["user.mfa.otp.added"]);
export const userHumanMfaOtpRemoved = noPayload("user.human.mfa.otp.removed", ["user.mfa.otp.removed"]);
export const userHumanMfaOtpSmsRemoved = noPayload("user.human.mfa.otp.sms.removed");
export const userHumanMfaOtpEmailRemoved = noPayload("user.human.mfa.otp.email.removed");
export const userHumanMfaRecoveryCodeAdded = noPayload("user.human.mfa.recoverycode.added");
export const userHumanMfaRecoveryCodeRemoved = noPayload("user.human.mfa.recoverycode.removed");

const webAuthnAdded = [field("webAuthNTokenId", "string"), optional("rpID", "string")] as const;
const webAuthnSignCount = [field("webAuthNTokenId", "string"), field("signCount", "long")] as const;
const webAuthnRemoved = [field("webAuthNTokenId", "string")] as const;

export const userHumanU2fTokenAdded = defineEvent({ type: "user.human.mfa.u2f.token.added", aggregateType: "user", fields: webAuthnAdded });
export const userHumanU2fTokenSignCountChanged = defineEvent({
  type: "user.human.mfa.u2f.token.signcount.changed",
  aggregateType: "user",
  fields: webAuthnSignCount,
});
export const userHumanU2fTokenRemoved = defineEvent({ type: "user.human.mfa.u2f.token.removed", aggregateType: "user", fields: webAuthnRemoved });

export const userHumanPasswordlessTokenAdded = defineEvent({
  type: "user.human.passwordless.token.added",
  aggregateType: "user",
  fields: webAuthnAdded,
});
export const userHumanPasswordlessTokenSignCountChanged = defineEvent({
  type: "user.human.passwordless.token.signcount.changed",
  aggregateType: "user",
  fields: webAuthnSignCount,
});
export const userHumanPasswordlessTokenRemoved = defineEvent({
  type: "user.human.passwordless.token.removed",
  aggregateType: "user",
  fields: webAuthnRemoved,
});

export const authMethodEvents = [
  userHumanMfaOtpAdded,
  userHumanMfaOtpRemoved,
  userHumanMfaOtpSmsRemoved,
  userHumanMfaOtpEmailRemoved,
  userHumanMfaRecoveryCodeAdded,
  userHumanMfaRecoveryCodeRemoved,
  userHumanU2fTokenAdded,
  userHumanU2fTokenSignCountChanged,
  userHumanU2fTokenRemoved,
  userHumanPasswordlessTokenAdded,
  userHumanPasswordlessTokenSignCountChanged,
  userHumanPasswordlessTokenRemoved,
] as const;
