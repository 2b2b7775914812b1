import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';

/**
 * The application's database role: what every runtime function connects as. It may read and
 * write rows of our tables and call our functions, and nothing else: it owns nothing, cannot
 * create, alter or drop anything, and only reads the migration bookkeeping. The migration (run
 * as the cluster's owner) creates it and keeps its grants current, so the admin secret stays
 * with the migration function alone.
 */
export const appRoleName = 'messaging_app';

/** Kysely's bookkeeping tables: the app may read them (a no-op migrateToLatest reads them) but never change them. */
const migrationTables = ['kysely_migration', 'kysely_migration_lock'];

const identifier = /^[a-z_][a-z0-9_]{0,62}$/;

export interface AppRoleOptions {
  password: string;
  name?: string;
}

/**
 * Creates the role if it is missing and (re)applies its password and grants; safe to run on every
 * deploy. One statement per call, as the Data API needs. Must run as the role that owns the
 * schema's objects (the migration's role): default privileges are recorded for the role that
 * runs `ALTER DEFAULT PRIVILEGES`, i.e. for the objects it creates in later migrations.
 */
export async function ensureAppRole(db: Kysely<any>, { password, name = appRoleName }: AppRoleOptions): Promise<void> {
  if (!identifier.test(name)) throw new Error(`Not a plain role name: ${name}`);
  const role = sql.raw(name);
  // PL/pgSQL: CREATE ROLE has no IF NOT EXISTS.
  await sql`DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE ${role}; END IF;
  END $$`.execute(db);
  // The password goes as a SCRAM verifier, never in clear text, so it cannot show up in the
  // server's statement logs. Aurora's master user is not a superuser, so the attributes it may not
  // touch (SUPERUSER, REPLICATION, BYPASSRLS) are left at CREATE ROLE's defaults, which are off.
  await sql`ALTER ROLE ${role} WITH LOGIN NOCREATEDB NOCREATEROLE PASSWORD '${sql.raw(scramSha256Verifier(password))}'`.execute(
    db,
  );
  await sql`GRANT USAGE ON SCHEMA public TO ${role}`.execute(db);
  // Trigger functions run with the privileges of whoever fired them, so the role needs rights on
  // every table a trigger touches: that is every table, hence ALL TABLES.
  await sql`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`.execute(db);
  await sql`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`.execute(db);
  // PUBLIC has EXECUTE on new functions by default; granting it explicitly keeps the role working
  // if a migration revokes that default for a function.
  await sql`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO ${role}`.execute(db);
  // What later migrations create is covered as it appears.
  await sql`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${role}`.execute(
    db,
  );
  await sql`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO ${role}`.execute(db);
  await sql`ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO ${role}`.execute(db);
  const { rows } = await sql<{ name: string }>`
    SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' AND tablename IN (${sql.join(migrationTables.map((t) => sql.lit(t)))})`.execute(
    db,
  );
  for (const { name: table } of rows) {
    await sql`REVOKE ALL ON TABLE ${sql.id(table)} FROM ${role}`.execute(db);
    await sql`GRANT SELECT ON TABLE ${sql.id(table)} TO ${role}`.execute(db);
  }
}

/**
 * A SCRAM-SHA-256 verifier in PostgreSQL's stored format (RFC 5802 / 7677), which ALTER ROLE
 * accepts in place of the password. PostgreSQL normalises passwords with SASLprep; printable
 * ASCII is unchanged by it, so only that is accepted here (our generated passwords are).
 */
export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  if (!/^[\x21-\x7e]+$/.test(password)) throw new Error('The role password must be printable ASCII without spaces');
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}
