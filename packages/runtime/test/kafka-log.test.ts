// kafkajs reports some retries at error level although they belong to every normal start: a log-based
// alert on errors must not fire on each deploy. The adapter maps them below error; real errors stay.
import { logLevel } from "kafkajs";
import { describe, expect, it } from "vitest";
import { kafkaLogLevel, logMayHaveChanged } from "../src/kafka/log.ts";

describe("kafkaLogLevel", () => {
  it.each([
    ["Response GroupCoordinator(key: 10, version: 2)", "The group coordinator is not available"],
    ["Response FindCoordinator(key: 10, version: 2)", "The coordinator is loading and hence can't process requests for this group"],
    ["Response JoinGroup(key: 11, version: 5)", "This is not the correct coordinator for this group"],
    ["Response CreateTopics(key: 19, version: 3)", "Topic with this name already exists"],
    ["Response Metadata(key: 3, version: 6)", "There is no leader for this topic-partition as we are in the middle of a leadership election"],
    ["Response Metadata(key: 3, version: 6)", "This server does not host this topic-partition"],
    ["Response Heartbeat(key: 12, version: 3)", "The group is rebalancing, so a rejoin is needed"],
  ])("%s with %j is a benign retry: warn", (message, error) => {
    expect(kafkaLogLevel(logLevel.ERROR, { message, error })).toBe("warn");
  });

  it("a benign text in the message itself counts too", () => {
    expect(kafkaLogLevel(logLevel.ERROR, { message: "[Connection] The group coordinator is not available" })).toBe("warn");
  });

  it.each([
    ["Connection error: connect ECONNREFUSED 127.0.0.1:19092", undefined],
    ["Offset out of range, resetting to default offset", undefined],
    ["Response Produce(key: 0, version: 7)", "The request included a message larger than the max message size the server will accept"],
    ["Crash: KafkaJSNonRetriableError: Not authorized to access topics", undefined],
  ])("%s stays an error", (message, error) => {
    expect(kafkaLogLevel(logLevel.ERROR, { message, error })).toBe("error");
  });

  it("kafkajs' own lower levels keep their meaning", () => {
    expect(kafkaLogLevel(logLevel.WARN, { message: "anything" })).toBe("warn");
    expect(kafkaLogLevel(logLevel.INFO, { message: "anything" })).toBe("warn");
    expect(kafkaLogLevel(logLevel.DEBUG, { message: "anything" })).toBe("debug");
  });
});

describe("logMayHaveChanged", () => {
  it.each([
    [{ message: "Response Fetch(key: 1, version: 11)", error: "This server does not host this topic-partition" }, true],
    [{ message: "Offset out of range, resetting to default offset" }, true],
    [{ message: "Response Fetch(key: 1, version: 11)", error: "The requested offset is not within the range of offsets maintained by the server" }, true],
    [{ message: "Connection error: connect ECONNREFUSED 127.0.0.1:19092" }, true],
    [{ message: "Response Heartbeat(key: 12, version: 3)", error: "The group is rebalancing, so a rejoin is needed" }, false],
    [{ message: "Response CreateTopics(key: 19, version: 3)", error: "Topic with this name already exists" }, false],
  ])("%j: %s", (entry, expected) => {
    expect(logMayHaveChanged(entry)).toBe(expected);
  });
});
