// Field limits of the payloads, by field name (a name means the same thing in every event). They bound
// what producers may write to what the read models can store and index (a btree entry must stay under
// about 2.7 KB; every indexed text column's source here is at most 200 characters), and follow the
// identity system's own input validation (names, e-mail, phone, ids: at most 200 characters; a user
// name at least one). They are not part of the Avro schemas: the wire format stays as it is, and the same
// limits are checked by the producer SDK (zod) and by consumers when decoding.

export interface FieldLimit {
  /** Fewest characters (UTF-16 code units, as String.length counts them). */
  min?: number;
  /** Most characters. */
  max: number;
}

const NAME = { max: 200 } as const;
const ID = { max: 200 } as const;

export const FIELD_LIMITS: Readonly<Record<string, FieldLimit>> = {
  userName: { min: 1, max: 200 },
  firstName: NAME,
  lastName: NAME,
  nickName: NAME,
  displayName: NAME,
  name: NAME,
  webAuthNTokenName: NAME,
  email: { max: 200 },
  phone: { max: 200 },
  // A BCP 47 language tag; 35 characters is the length tags are required to fit in.
  preferredLanguage: { max: 35 },
  country: NAME,
  locality: NAME,
  postalCode: NAME,
  region: NAME,
  streetAddress: NAME,
  description: { max: 500 },
  domain: { max: 200 },
  key: { max: 200 },
  roleKeys: { max: 200 },
  scopes: { max: 200 },
  rpID: { max: 200 },
  attestationType: { max: 100 },
  ip: { max: 100 },
  userId: ID,
  idpConfigId: ID,
  newId: ID,
  userID: ID,
  projectId: ID,
  grantId: ID,
  grantedOrgId: ID,
  userResourceOwner: ID,
  tokenId: ID,
  tokenID: ID,
  webAuthNTokenId: ID,
  userAgentID: ID,
  fingerprint_id: ID,
  authRequestID: ID,
  storeKey: ID,
  id: ID,
  previousId: ID,
};

/** Any other string (password hashes, origins, header values…): bounded, generously. */
export const DEFAULT_STRING_LIMIT: FieldLimit = { max: 4096 };
/** Elements of an array, entries of a map. */
export const MAX_ITEMS = 1000;

/** The limit of a string field; for arrays and maps, of their string elements. */
export const limitOf = (field: string | undefined): FieldLimit => (field === undefined ? undefined : FIELD_LIMITS[field]) ?? DEFAULT_STRING_LIMIT;

/** Why a value breaks its field's limit, or undefined when it does not. */
export function limitViolation(value: string, limit: FieldLimit): string | undefined {
  if (value.length > limit.max) return `is ${value.length} characters long; at most ${limit.max} are allowed`;
  if (limit.min !== undefined && value.length < limit.min)
    return `is ${value.length === 0 ? "empty" : `${value.length} characters long`}; at least ${limit.min} required`;
  return undefined;
}
