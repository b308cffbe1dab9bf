// Session aggregate events (aggregate type `session`, owner = instance id), fields as in ZITADEL's
// internal/repository/session. Challenge events (webAuthN/OTP challenged, OTP sent) are not part of the
// contract: no read model reduces them and they carry one-time codes.
import { field, optional } from "../avro.ts";
import { defineEvent } from "../define.ts";

// Times of checks are epoch milliseconds (the wire form of Avro's timestamp-millis).
const checkedAt = { name: "checkedAt", type: "long", doc: "time of the check, epoch milliseconds" } as const;

const userAgent = {
  type: "record",
  name: "SessionUserAgent",
  fields: [
    optional("fingerprint_id", "string"),
    optional("ip", "string"),
    optional("description", "string"),
    optional("header", { type: "map", values: { type: "array", items: "string" } }),
  ],
} as const;

export const sessionAdded = defineEvent({
  type: "session.added",
  aggregateType: "session",
  fields: [optional("user_agent", userAgent)],
});

export const sessionUserChecked = defineEvent({
  type: "session.user.checked",
  aggregateType: "session",
  fields: [field("userID", "string"), field("userResourceOwner", "string"), checkedAt, optional("preferredLanguage", "string")],
});

const checked = <const T extends string>(type: T) => defineEvent({ type, aggregateType: "session", fields: [checkedAt] });

export const sessionPasswordChecked = checked("session.password.checked");
export const sessionIntentChecked = checked("session.intent.checked");
export const sessionTotpChecked = checked("session.totp.checked");
export const sessionOtpSmsChecked = checked("session.otp.sms.checked");
export const sessionOtpEmailChecked = checked("session.otp.email.checked");
export const sessionRecoveryCodeChecked = checked("session.recoveryCode.checked");

export const sessionWebAuthNChecked = defineEvent({
  type: "session.webAuthN.checked",
  aggregateType: "session",
  fields: [checkedAt, optional("userVerified", "boolean")],
});

// Only the token's id: the token itself is handed to the client and never written to the stream.
export const sessionTokenSet = defineEvent({
  type: "session.token.set",
  aggregateType: "session",
  fields: [field("tokenID", "string")],
});

// The complete map after the change (the command merges, then emits the whole map).
export const sessionMetadataSet = defineEvent({
  type: "session.metadata.set",
  aggregateType: "session",
  fields: [optional("metadata", { type: "map", values: "bytes" })],
});

export const sessionLifetimeSet = defineEvent({
  type: "session.lifetime.set",
  aggregateType: "session",
  // Go time.Duration as in ZITADEL; a JSON-safe long caps it at 2^53 ns (about 104 days).
  fields: [{ name: "lifetime", type: "long", doc: "nanoseconds" }],
});

export const sessionTerminated = defineEvent({
  type: "session.terminated",
  aggregateType: "session",
  fields: [optional("triggerOrigin", "string")],
});

export const sessionEvents = [
  sessionAdded,
  sessionUserChecked,
  sessionPasswordChecked,
  sessionIntentChecked,
  sessionTotpChecked,
  sessionOtpSmsChecked,
  sessionOtpEmailChecked,
  sessionRecoveryCodeChecked,
  sessionWebAuthNChecked,
  sessionTokenSet,
  sessionMetadataSet,
  sessionLifetimeSet,
  sessionTerminated,
] as const;
