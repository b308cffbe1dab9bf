// Demo producer: publishes a realistic identity history for a few instances and orgs, with events for
// every service (users, sessions, grants, auth methods, PATs, lockout policies).
//   npm run demo:produce            (KAFKA_BROKERS, TOPIC, DEMO_SEED, DEMO_INSTANCES, DEMO_USERS_PER_ORG)
import { DEFAULT_TOPIC } from "@idp/events";
import { KafkaJsAdmin } from "@idp/runtime";
import { generateHistory, serviceEvents } from "./history.ts";
import { EventPublisher } from "./index.ts";

const brokers = (process.env.KAFKA_BROKERS ?? "127.0.0.1:19092").split(",");
const topic = process.env.TOPIC ?? DEFAULT_TOPIC;
const admin = new KafkaJsAdmin({ brokers, clientId: "idp-demo-admin" });
await admin.ensureTopic(topic, Number(process.env.TOPIC_PARTITIONS ?? 4));
await admin.close();

const users = generateHistory({
  seed: Number(process.env.DEMO_SEED ?? 42),
  instances: Number(process.env.DEMO_INSTANCES ?? 3),
  orgsPerInstance: 2,
  usersPerOrg: Number(process.env.DEMO_USERS_PER_ORG ?? 5),
  prefix: process.env.DEMO_PREFIX ?? "demo-",
});
// Users alone would leave the other five read models empty.
const history = [...users, ...serviceEvents(users, Number(process.env.DEMO_SEED ?? 42))];
const publisher = await EventPublisher.connect({ brokers, topic, clientId: "idp-demo" });
const positions = await publisher.publish(history);
await publisher.close();
const instances = [...new Set(history.map((e) => e.instanceId))];
console.log(`published ${history.length} events for instances ${instances.join(", ")} to ${topic}`);
console.log(`last position: ${positions.at(-1)?.topic}:${positions.at(-1)?.partition}:${positions.at(-1)?.offset}`);
