// Durable state of the local cloud in SQLite (better-sqlite3): things, shadows,
// jobs, job executions, and a namespaced key-value table for added services.
// Values are JSON documents; every write is a transaction, so a crash never
// leaves half an update. `:memory:` gives a throwaway store.
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS things (name TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS shadows (thing TEXT NOT NULL, shadow TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (thing, shadow));
CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS executions (job_id TEXT NOT NULL, thing TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (job_id, thing));
CREATE INDEX IF NOT EXISTS executions_by_thing ON executions (thing);
CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (ns, key));
`;

/** A JSON table keyed by a string, for services added later (streams, provisioning...). */
export interface KvTable<T> {
  get(key: string): T | undefined;
  put(key: string, value: T): void;
  delete(key: string): void;
  list(): { key: string; value: T }[];
}

export class Store {
  readonly db: Database.Database;
  /** Prepared once, run many times: a statement per SQL text (the cloud asks the same few questions on every message). */
  private readonly statements = new Map<string, Database.Statement>();
  private sql(text: string): Database.Statement {
    let s = this.statements.get(text);
    if (!s) {
      s = this.db.prepare(text);
      this.statements.set(text, s);
    }
    return s;
  }
  constructor(file: string) {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.exec(SCHEMA);
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  // things
  getThing<T>(name: string): T | undefined {
    const row = this.sql("SELECT data FROM things WHERE name = ?").get(name) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as T) : undefined;
  }
  putThing(name: string, data: unknown): void {
    this.sql("INSERT INTO things (name, data) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET data = excluded.data").run(name, JSON.stringify(data));
  }
  deleteThing(name: string): boolean {
    return this.sql("DELETE FROM things WHERE name = ?").run(name).changes > 0;
  }
  listThings<T>(): T[] {
    return (this.sql("SELECT data FROM things ORDER BY name").all() as { data: string }[]).map((r) => JSON.parse(r.data) as T);
  }

  // shadows ("" is the classic shadow)
  getShadow<T>(thing: string, shadow: string): T | undefined {
    const row = this.sql("SELECT data FROM shadows WHERE thing = ? AND shadow = ?").get(thing, shadow) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as T) : undefined;
  }
  putShadow(thing: string, shadow: string, data: unknown): void {
    this.sql("INSERT INTO shadows (thing, shadow, data) VALUES (?, ?, ?) ON CONFLICT(thing, shadow) DO UPDATE SET data = excluded.data")
      .run(thing, shadow, JSON.stringify(data));
  }
  listShadows(thing: string): string[] {
    return (this.sql("SELECT shadow FROM shadows WHERE thing = ? ORDER BY shadow").all(thing) as { shadow: string }[]).map((r) => r.shadow);
  }

  // jobs and executions
  getJob<T>(jobId: string): T | undefined {
    const row = this.sql("SELECT data FROM jobs WHERE job_id = ?").get(jobId) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as T) : undefined;
  }
  putJob(jobId: string, data: unknown): void {
    this.sql(
        "INSERT INTO jobs (job_id, seq, data) VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), ?) ON CONFLICT(job_id) DO UPDATE SET data = excluded.data",
      )
      .run(jobId, JSON.stringify(data));
  }
  listJobs<T>(): T[] {
    return (this.sql("SELECT data FROM jobs ORDER BY seq").all() as { data: string }[]).map((r) => JSON.parse(r.data) as T);
  }
  getExecution<T>(jobId: string, thing: string): T | undefined {
    const row = this.sql("SELECT data FROM executions WHERE job_id = ? AND thing = ?").get(jobId, thing) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as T) : undefined;
  }
  putExecution(jobId: string, thing: string, data: unknown): void {
    this.sql("INSERT INTO executions (job_id, thing, data) VALUES (?, ?, ?) ON CONFLICT(job_id, thing) DO UPDATE SET data = excluded.data")
      .run(jobId, thing, JSON.stringify(data));
  }
  /** Executions of a thing, in job creation order. */
  executionsForThing<T>(thing: string): T[] {
    return (
      this.sql("SELECT e.data FROM executions e JOIN jobs j ON j.job_id = e.job_id WHERE e.thing = ? ORDER BY j.seq").all(thing) as { data: string }[]
    ).map((r) => JSON.parse(r.data) as T);
  }
  executionsForJob<T>(jobId: string): T[] {
    return (this.sql("SELECT data FROM executions WHERE job_id = ? ORDER BY thing").all(jobId) as { data: string }[]).map(
      (r) => JSON.parse(r.data) as T,
    );
  }
  allExecutions<T>(): T[] {
    return (this.sql("SELECT data FROM executions").all() as { data: string }[]).map((r) => JSON.parse(r.data) as T);
  }

  kv<T>(ns: string): KvTable<T> {
    const sql = (text: string) => this.sql(text);
    return {
      get(key) {
        const row = sql("SELECT value FROM kv WHERE ns = ? AND key = ?").get(ns, key) as { value: string } | undefined;
        return row ? (JSON.parse(row.value) as T) : undefined;
      },
      put(key, value) {
        sql("INSERT INTO kv (ns, key, value) VALUES (?, ?, ?) ON CONFLICT(ns, key) DO UPDATE SET value = excluded.value").run(ns, key, JSON.stringify(value));
      },
      delete(key) {
        sql("DELETE FROM kv WHERE ns = ? AND key = ?").run(ns, key);
      },
      list() {
        return (sql("SELECT key, value FROM kv WHERE ns = ? ORDER BY key").all(ns) as { key: string; value: string }[]).map((r) => ({
          key: r.key,
          value: JSON.parse(r.value) as T,
        }));
      },
    };
  }

  close(): void {
    this.db.close();
  }
}
