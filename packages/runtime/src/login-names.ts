// What a read model needs to compute a user's preferred login name at query time: the verified domains of
// each org (and which is primary) and the domain policies (org, or the instance default). The tables and
// reducers are the users service's; a service that shows login names of another aggregate declares them in
// its own schema, so a domain or policy change updates one row instead of every row naming a user.
import * as ev from "@idp/events";
import { baseColumns, col, type RowOf } from "./columns.ts";
import { created, type ProjectedEvent, type Projection, type RowRef, removeRow, type SqlStatement, touched } from "./projection.ts";

export function declareLoginNameInputs(projection: Projection, unlessRemoved: (e: ev.EventEnvelope) => RowRef[]) {
  const orgDomains = projection.table({
    name: "org_domains",
    key: ["instance_id", "org_id"],
    columns: { ...baseColumns, org_id: col.text, domains: col.textArray, primary_domain: col.text.nullable },
  });
  type OrgDomainsRow = RowOf<typeof orgDomains>;
  const domainPolicies = projection.table({
    name: "domain_policies",
    key: ["instance_id", "owner_id"],
    columns: { ...baseColumns, owner_id: col.text, must_be_domain: col.bool, is_default: col.bool },
  });
  type DomainPolicyRow = RowOf<typeof domainPolicies>;

  const domains =
    (change: (row: OrgDomainsRow, domain: string) => Pick<OrgDomainsRow, "domains" | "primary_domain"> | undefined) =>
    (row: OrgDomainsRow | undefined, e: ProjectedEvent<{ domain: string }>): OrgDomainsRow | undefined => {
      const base: OrgDomainsRow = row ?? { ...created(orgDomains, e), org_id: e.aggregateId, domains: [], primary_domain: null };
      const next = change(base, e.payload.domain);
      return next ? touched(base, e, next) : undefined;
    };
  projection.onRow(
    ev.orgDomainVerified,
    orgDomains,
    domains((r, d) => (r.domains.includes(d) ? undefined : { domains: [...r.domains, d], primary_domain: r.primary_domain })),
    { unlessRemoved },
  );
  projection.onRow(
    ev.orgDomainPrimarySet,
    orgDomains,
    domains((r, d) => ({ domains: r.domains, primary_domain: d })),
  );
  projection.onRow(
    ev.orgDomainRemoved,
    orgDomains,
    domains((r, d) => ({ domains: r.domains.filter((x) => x !== d), primary_domain: r.primary_domain === d ? null : r.primary_domain })),
  );

  // Keyed by the policy's aggregate: the org, or the instance for the instance default.
  const policyAdded = (_row: DomainPolicyRow | undefined, e: ProjectedEvent<ev.PayloadOf<typeof ev.orgDomainPolicyAdded>>): DomainPolicyRow => ({
    ...created(domainPolicies, e),
    owner_id: e.aggregateId,
    must_be_domain: e.payload.userLoginMustBeDomain,
    is_default: e.aggregateType === "instance",
  });
  const policyChanged = (row: DomainPolicyRow | undefined, e: ProjectedEvent<ev.PayloadOf<typeof ev.orgDomainPolicyChanged>>) => {
    const must = e.payload.userLoginMustBeDomain;
    return row && must != null ? touched(row, e, { must_be_domain: must }) : undefined;
  };
  projection.onRow(ev.orgDomainPolicyAdded, domainPolicies, policyAdded, { unlessRemoved });
  projection.onRow(ev.instanceDomainPolicyAdded, domainPolicies, policyAdded, { unlessRemoved });
  projection.onRow(ev.orgDomainPolicyChanged, domainPolicies, policyChanged);
  projection.onRow(ev.instanceDomainPolicyChanged, domainPolicies, policyChanged);
  projection.onRow(ev.orgDomainPolicyRemoved, domainPolicies, removeRow);

  /** The org.removed statements for these tables (the caller adds them to its own org cascade). */
  const orgRemovedStatements = (e: ev.EventEnvelope): SqlStatement[] => [
    { text: "DELETE FROM org_domains WHERE instance_id = $1 AND org_id = $2", values: [e.instanceId, e.aggregateId] },
    { text: "DELETE FROM domain_policies WHERE instance_id = $1 AND owner_id = $2", values: [e.instanceId, e.aggregateId] },
  ];
  return { orgDomains, domainPolicies, orgRemovedStatements };
}

/**
 * SQL expression: the preferred login name of the user row `alias` (columns instance_id, resource_owner =
 * the user's org, username). As the users service's login_names view: the username, unless the org's
 * domain policy (else the instance default) says login names must carry a domain, then
 * username@primary-domain (NULL while the org has no verified primary domain). NULL when the row is missing.
 */
export const preferredLoginNameSql = (alias: string) => `(SELECT CASE WHEN coalesce(op.must_be_domain, ip.must_be_domain, false)
    THEN (SELECT ${alias}.username || '@' || d.primary_domain FROM org_domains d
          WHERE d.instance_id = ${alias}.instance_id AND d.org_id = ${alias}.resource_owner AND d.primary_domain = ANY(d.domains))
    ELSE ${alias}.username END
  FROM (SELECT 1) one
  LEFT JOIN domain_policies op ON op.instance_id = ${alias}.instance_id AND op.owner_id = ${alias}.resource_owner
  LEFT JOIN domain_policies ip ON ip.instance_id = ${alias}.instance_id AND ip.owner_id = ${alias}.instance_id)`;
