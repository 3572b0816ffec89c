/**
 * Durability for the embedded store: one SQLite file in the data dir (better-sqlite3, synchronous, WAL). A
 * commit is one SQLite transaction, so a crash leaves either all of a commit or none of it.
 */
import Database from 'better-sqlite3';
import type { Kind } from './store';
import type { Change, Persistence } from './memory-store';

export class SqlitePersistence implements Persistence {
  private db: Database.Database;
  private putStmt: Database.Statement;
  private delStmt: Database.Statement;
  private indexStmt: Database.Statement;
  private commitTx: (changes: Change[], index: number) => void;

  /** path is a file name, or ":memory:" for tests (the same code path, nothing on disk). */
  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS objects (kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, id));
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    `);
    this.putStmt = this.db.prepare('INSERT OR REPLACE INTO objects (kind, id, body) VALUES (?, ?, ?)');
    this.delStmt = this.db.prepare('DELETE FROM objects WHERE kind = ? AND id = ?');
    this.indexStmt = this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('index', ?)");
    this.commitTx = this.db.transaction((changes: Change[], index: number) => {
      for (const c of changes) {
        if (c.object === null) this.delStmt.run(c.kind, c.id);
        else this.putStmt.run(c.kind, c.id, JSON.stringify(c.object));
      }
      this.indexStmt.run(String(index));
    });
  }

  load(): { objects: { kind: Kind; object: any }[]; index: number } {
    const rows = this.db.prepare('SELECT kind, body FROM objects').all() as { kind: Kind; body: string }[];
    const meta = this.db.prepare("SELECT value FROM meta WHERE key = 'index'").get() as { value: string } | undefined;
    return { objects: rows.map((r) => ({ kind: r.kind, object: JSON.parse(r.body) })), index: meta ? Number(meta.value) : 0 };
  }

  commit(changes: Change[], index: number): void {
    this.commitTx(changes, index);
  }

  close(): void {
    this.db.close();
  }
}
