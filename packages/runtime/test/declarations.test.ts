// A table is declared once: the row type, the column types the fold's SQL uses and the nullable columns
// all come from one column map; a handler for a list of events sees only the payload fields they share.
import * as ev from "@idp/events";
import { describe, expect, expectTypeOf, it } from "vitest";
import { baseColumns, col, Projection, type RowOf } from "../src/index.ts";

const p = new Projection("declarations");
const things = p.table({
  name: "things",
  key: ["instance_id", "id"],
  columns: { ...baseColumns, id: col.text, note: col.text.nullable, tags: col.textArray, meta: col.jsonb<{ a: number }>().nullable },
});

interface Expected {
  instance_id: string;
  resource_owner: string;
  change_date: Date;
  sequence: number;
  id: string;
  note: string | null;
  tags: string[];
  meta: { a: number } | null;
}

describe("table declarations", () => {
  it("infer the row type from the columns", () => {
    expectTypeOf<RowOf<typeof things>>().toExtend<Expected>();
    expectTypeOf<Expected>().toExtend<RowOf<typeof things>>();
  });

  it("give the fold each column's SQL type and the nullable columns", () => {
    expect(things.columns).toEqual({
      instance_id: "text",
      resource_owner: "text",
      change_date: "timestamptz",
      sequence: "int8",
      id: "text",
      note: "text",
      tags: "text[]",
      meta: "jsonb",
    });
    expect(things.nullable).toEqual(["note", "meta"]);
    expect(p.tables).toEqual([things]);
  });

  it("reject a primary key that does not start with instance_id", () => {
    expect(() => p.table({ name: "bad", key: ["id"], columns: { ...baseColumns, id: col.text } })).toThrow(/must start with instance_id/);
  });

  it("type a list's payload as the fields its events share", () => {
    p.onRow([ev.userHumanAdded, ev.userMachineAdded], things, (_row, e) => {
      expectTypeOf(e.payload.userName).toEqualTypeOf<string>();
      // @ts-expect-error only the human event carries a display name
      e.payload.displayName;
      return undefined;
    });
    expect(p.eventTypes()).toEqual(expect.arrayContaining([ev.userHumanAdded.type, ev.userMachineAdded.type]));
  });
});
