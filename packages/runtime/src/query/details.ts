// The `details` every query object carries, and dates as ISO strings.
import { z } from "zod";

export const iso = (d: unknown): string | null => (d instanceof Date ? d.toISOString() : null);

export const detailsSchema = z.object({
  sequence: z.number(),
  creationDate: z.string(),
  changeDate: z.string(),
  resourceOwner: z.string(),
});

/** The columns every read-model row has, as pg returns them (bigint arrives as a string). */
export interface DetailsRow {
  sequence: number | string;
  creation_date: Date;
  change_date: Date;
  resource_owner: string;
}

/** The `details` of a read-model row: the last applied aggregate sequence, dates, owner. */
export function toDetails(r: DetailsRow): z.infer<typeof detailsSchema> {
  return {
    sequence: Number(r.sequence),
    creationDate: r.creation_date.toISOString(),
    changeDate: r.change_date.toISOString(),
    resourceOwner: r.resource_owner,
  };
}
