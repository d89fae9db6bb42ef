package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// migration is one versioned schema change. Statements are written once for both
// dialects; {{pk}} and {{ts}} expand to each dialect's auto-increment primary key
// and timestamp types. Never edit a migration that has shipped: add a new one.
type migration struct {
	version int
	name    string
	stmts   []string
	// sqlite and postgres run after stmts, on their dialect only (triggers).
	sqlite   []string
	postgres []string
	// postgresFirst runs before stmts on PostgreSQL (a table lock that
	// keeps other replicas' writes out until the migration commits).
	postgresFirst []string
}

var migrations = []migration{
	{
		version: 1,
		name:    "users, businesses, desired namespaces, revoked tokens",
		stmts: []string{
			`CREATE TABLE users (
				id {{pk}},
				user_name VARCHAR(64) NOT NULL,
				password_hash VARCHAR(128) NOT NULL,
				phone VARCHAR(32) NOT NULL,
				real_name VARCHAR(128) NOT NULL,
				is_admin BOOLEAN NOT NULL DEFAULT FALSE,
				is_sys_admin BOOLEAN NOT NULL DEFAULT FALSE,
				status SMALLINT NOT NULL DEFAULT 0,
				business_id BIGINT,
				token_generation BIGINT NOT NULL DEFAULT 0,
				created_at {{ts}} NOT NULL,
				updated_at {{ts}} NOT NULL
			)`,
			`CREATE UNIQUE INDEX users_user_name ON users (user_name)`,
			`CREATE INDEX users_business_id ON users (business_id, id)`,
			`CREATE INDEX users_business_user_name ON users (business_id, user_name)`,
			`CREATE INDEX users_sys_admin ON users (is_sys_admin, status)`,
			`CREATE TABLE businesses (
				id {{pk}},
				name VARCHAR(64) NOT NULL,
				user_id BIGINT NOT NULL,
				introduce TEXT NOT NULL,
				objective TEXT NOT NULL,
				scale VARCHAR(255) NOT NULL,
				comment TEXT NOT NULL DEFAULT '',
				status SMALLINT NOT NULL DEFAULT 0,
				created_at {{ts}} NOT NULL,
				updated_at {{ts}} NOT NULL
			)`,
			`CREATE UNIQUE INDEX businesses_name ON businesses (name)`,
			`CREATE INDEX businesses_user_id ON businesses (user_id)`,
			`CREATE TABLE desired_namespaces (
				name VARCHAR(63) PRIMARY KEY,
				business_id BIGINT NOT NULL,
				created_at {{ts}} NOT NULL
			)`,
			`CREATE TABLE revoked_tokens (
				token_id VARCHAR(64) PRIMARY KEY,
				expires_at {{ts}} NOT NULL
			)`,
			`CREATE INDEX revoked_tokens_expires_at ON revoked_tokens (expires_at)`,
		},
	},
	{
		// Counting 100,000 users takes PostgreSQL several milliseconds per list
		// request (MVCC makes count(*) a scan); triggers keep exact counts per
		// business instead (business_id 0: users without a business).
		version: 2,
		name:    "user counts per business",
		stmts: []string{
			`CREATE TABLE user_counts (
				business_id BIGINT PRIMARY KEY,
				n BIGINT NOT NULL
			)`,
			`INSERT INTO user_counts (business_id, n)
				SELECT COALESCE(business_id, 0), COUNT(*) FROM users GROUP BY COALESCE(business_id, 0)`,
		},
		sqlite: []string{
			`CREATE TRIGGER users_count_insert AFTER INSERT ON users BEGIN
				INSERT INTO user_counts (business_id, n) VALUES (COALESCE(NEW.business_id, 0), 1)
					ON CONFLICT (business_id) DO UPDATE SET n = n + 1;
			END`,
			`CREATE TRIGGER users_count_delete AFTER DELETE ON users BEGIN
				UPDATE user_counts SET n = n - 1 WHERE business_id = COALESCE(OLD.business_id, 0);
			END`,
			`CREATE TRIGGER users_count_move AFTER UPDATE OF business_id ON users BEGIN
				UPDATE user_counts SET n = n - 1 WHERE business_id = COALESCE(OLD.business_id, 0);
				INSERT INTO user_counts (business_id, n) VALUES (COALESCE(NEW.business_id, 0), 1)
					ON CONFLICT (business_id) DO UPDATE SET n = n + 1;
			END`,
		},
		postgres: []string{
			`CREATE FUNCTION users_count_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
			BEGIN
				IF TG_OP IN ('DELETE', 'UPDATE') THEN
					UPDATE user_counts SET n = n - 1 WHERE business_id = COALESCE(OLD.business_id, 0);
				END IF;
				IF TG_OP IN ('INSERT', 'UPDATE') THEN
					INSERT INTO user_counts (business_id, n) VALUES (COALESCE(NEW.business_id, 0), 1)
						ON CONFLICT (business_id) DO UPDATE SET n = user_counts.n + 1;
				END IF;
				RETURN NULL;
			END
			$$`,
			`CREATE TRIGGER users_count AFTER INSERT OR DELETE OR UPDATE OF business_id ON users
				FOR EACH ROW EXECUTE FUNCTION users_count_trigger()`,
		},
	},
	{
		// Edge clusters, their nodes and labels, and desired state as items
		// with revisions. One counter row hands out revisions: a transaction
		// that writes desired state holds its row lock until commit, so
		// revisions become visible in order and a reader that has seen
		// revision N has seen every revision below it.
		version: 3,
		name:    "clusters, nodes, labels, desired items",
		stmts: []string{
			`CREATE TABLE clusters (
				id {{pk}},
				name VARCHAR(63) NOT NULL,
				credential_hash VARCHAR(64) NOT NULL,
				online BOOLEAN NOT NULL DEFAULT FALSE,
				session VARCHAR(64) NOT NULL DEFAULT '',
				agent_version VARCHAR(64) NOT NULL DEFAULT '',
				first_connected_at {{ts}},
				last_seen {{ts}},
				created_at {{ts}} NOT NULL
			)`,
			`CREATE UNIQUE INDEX clusters_name ON clusters (name)`,
			`CREATE TABLE cluster_labels (
				cluster_id BIGINT NOT NULL,
				label VARCHAR(63) NOT NULL,
				created_at {{ts}} NOT NULL,
				PRIMARY KEY (cluster_id, label)
			)`,
			`CREATE INDEX cluster_labels_label ON cluster_labels (label, cluster_id)`,
			`CREATE TABLE nodes (
				cluster_id BIGINT NOT NULL,
				name VARCHAR(253) NOT NULL,
				operating_system VARCHAR(64) NOT NULL DEFAULT '',
				os_image VARCHAR(255) NOT NULL DEFAULT '',
				kernel_version VARCHAR(128) NOT NULL DEFAULT '',
				ip VARCHAR(64) NOT NULL DEFAULT '',
				cpu BIGINT NOT NULL DEFAULT 0,
				memory BIGINT NOT NULL DEFAULT 0,
				disk BIGINT NOT NULL DEFAULT 0,
				gpu_count BIGINT NOT NULL DEFAULT 0,
				gpu_memory BIGINT NOT NULL DEFAULT 0,
				ready BOOLEAN NOT NULL DEFAULT FALSE,
				updated_at {{ts}} NOT NULL,
				PRIMARY KEY (cluster_id, name)
			)`,
			`CREATE INDEX nodes_name ON nodes (name)`,
			`CREATE TABLE node_labels (
				cluster_id BIGINT NOT NULL,
				node_name VARCHAR(253) NOT NULL,
				label VARCHAR(63) NOT NULL,
				created_at {{ts}} NOT NULL,
				PRIMARY KEY (cluster_id, node_name, label)
			)`,
			`CREATE INDEX node_labels_label ON node_labels (label)`,
			`CREATE TABLE desired_items (
				cluster_id BIGINT NOT NULL,
				kind VARCHAR(32) NOT NULL,
				name VARCHAR(512) NOT NULL,
				revision BIGINT NOT NULL,
				deleted BOOLEAN NOT NULL DEFAULT FALSE,
				spec TEXT NOT NULL DEFAULT '',
				PRIMARY KEY (cluster_id, kind, name)
			)`,
			`CREATE INDEX desired_items_cluster_revision ON desired_items (cluster_id, revision)`,
			`CREATE INDEX desired_items_revision ON desired_items (revision)`,
			`CREATE TABLE revision_counter (
				id INTEGER PRIMARY KEY,
				value BIGINT NOT NULL
			)`,
			`CREATE TABLE item_status (
				cluster_id BIGINT NOT NULL,
				kind VARCHAR(32) NOT NULL,
				name VARCHAR(512) NOT NULL,
				revision BIGINT NOT NULL,
				state VARCHAR(16) NOT NULL,
				message TEXT NOT NULL DEFAULT '',
				updated_at {{ts}} NOT NULL,
				PRIMARY KEY (cluster_id, kind, name)
			)`,
			// The namespaces of businesses approved so far become desired
			// items; their business ids are increasing, so they serve as
			// their first revisions.
			`INSERT INTO desired_items (cluster_id, kind, name, revision, deleted, spec)
				SELECT 0, 'namespace', name, business_id, FALSE,
					'{"labels":{"ote-stack.io/business-id":"' || business_id || '"}}'
				FROM desired_namespaces`,
			`INSERT INTO revision_counter (id, value) SELECT 1, COALESCE(MAX(revision), 0) FROM desired_items`,
			`DROP TABLE desired_namespaces`,
		},
	},
	{
		// Applications; chart archives live in the database, so that every
		// replica serves them to agents.
		version: 4,
		name:    "apps and chart archives",
		stmts: []string{
			`CREATE TABLE apps (
				id {{pk}},
				business_id BIGINT NOT NULL,
				name VARCHAR(53) NOT NULL,
				version VARCHAR(16) NOT NULL,
				kind VARCHAR(16) NOT NULL,
				deploy_type VARCHAR(16) NOT NULL,
				spec TEXT NOT NULL DEFAULT '',
				chart_digest VARCHAR(80) NOT NULL DEFAULT '',
				chart_name VARCHAR(255) NOT NULL DEFAULT '',
				chart_version VARCHAR(64) NOT NULL DEFAULT '',
				chart_size BIGINT NOT NULL DEFAULT 0,
				created_at {{ts}} NOT NULL,
				updated_at {{ts}} NOT NULL
			)`,
			`CREATE UNIQUE INDEX apps_business_name_version ON apps (business_id, name, version)`,
			`CREATE INDEX apps_name ON apps (name)`,
			`CREATE TABLE chart_archives (
				digest VARCHAR(80) PRIMARY KEY,
				data {{blob}} NOT NULL,
				created_at {{ts}} NOT NULL
			)`,
		},
	},
	{
		// Deployments, the audit requests that gate their changes, and the
		// versions that were live. spec is the compiled workload of the live
		// version: what cluster label changes fan out.
		version: 5,
		name:    "deployments, audit requests, history",
		stmts: []string{
			`CREATE TABLE deploys (
				id {{pk}},
				business_id BIGINT NOT NULL,
				name VARCHAR(53) NOT NULL,
				app_name VARCHAR(53) NOT NULL,
				version VARCHAR(16) NOT NULL,
				cluster_label VARCHAR(63) NOT NULL DEFAULT '',
				node_label VARCHAR(63) NOT NULL DEFAULT '',
				comment TEXT NOT NULL DEFAULT '',
				type SMALLINT NOT NULL,
				status SMALLINT NOT NULL,
				editable BOOLEAN NOT NULL,
				error_message TEXT NOT NULL DEFAULT '',
				audit_comment TEXT NOT NULL DEFAULT '',
				spec TEXT NOT NULL DEFAULT '',
				created_by BIGINT NOT NULL,
				created_at {{ts}} NOT NULL,
				updated_at {{ts}} NOT NULL
			)`,
			`CREATE UNIQUE INDEX deploys_business_name ON deploys (business_id, name)`,
			`CREATE INDEX deploys_cluster_label ON deploys (cluster_label)`,
			`CREATE INDEX deploys_app ON deploys (business_id, app_name, version)`,
			`CREATE TABLE deploy_requests (
				id {{pk}},
				deploy_id BIGINT NOT NULL,
				business_id BIGINT NOT NULL,
				app_name VARCHAR(53) NOT NULL,
				version VARCHAR(16) NOT NULL,
				cluster_label VARCHAR(63) NOT NULL DEFAULT '',
				type SMALLINT NOT NULL,
				status SMALLINT NOT NULL,
				comment TEXT NOT NULL DEFAULT '',
				requested_by BIGINT NOT NULL,
				created_at {{ts}} NOT NULL,
				updated_at {{ts}} NOT NULL
			)`,
			`CREATE INDEX deploy_requests_deploy ON deploy_requests (deploy_id)`,
			`CREATE INDEX deploy_requests_business ON deploy_requests (business_id, id)`,
			`CREATE TABLE deploy_history (
				deploy_id BIGINT NOT NULL,
				version VARCHAR(16) NOT NULL,
				since {{ts}} NOT NULL,
				PRIMARY KEY (deploy_id, version)
			)`,
		},
	},
	{
		// The deployment list walks a business's deployments newest first,
		// optionally by status (running=true) or editability.
		version: 6,
		name:    "deployment list indexes",
		stmts: []string{
			`CREATE INDEX deploys_business_id ON deploys (business_id, id)`,
			`CREATE INDEX deploys_business_status ON deploys (business_id, status, id)`,
			`CREATE INDEX deploys_business_editable ON deploys (business_id, editable, id)`,
		},
	},
	{
		// Pod counts that agents report for workloads; -1: not reported.
		version: 7,
		name:    "workload pod counts",
		stmts: []string{
			`ALTER TABLE item_status ADD COLUMN pods_desired INTEGER NOT NULL DEFAULT -1`,
			`ALTER TABLE item_status ADD COLUMN pods_running INTEGER NOT NULL DEFAULT -1`,
			`ALTER TABLE item_status ADD COLUMN pods_failed INTEGER NOT NULL DEFAULT -1`,
		},
	},
	{
		// External image repositories; passwords sealed with the hub's key.
		version: 8,
		name:    "external repositories",
		stmts: []string{
			`CREATE TABLE repos (
				id {{pk}},
				business_id BIGINT NOT NULL,
				repo_id VARCHAR(64) NOT NULL,
				address VARCHAR(255) NOT NULL,
				username VARCHAR(128) NOT NULL,
				password_sealed TEXT NOT NULL,
				created_at {{ts}} NOT NULL,
				updated_at {{ts}} NOT NULL
			)`,
			`CREATE UNIQUE INDEX repos_business_repo ON repos (business_id, repo_id)`,
		},
	},
	{
		// The image registry: projects, registry accounts (passwords
		// sealed) and the index of images and tags.
		version: 9,
		name:    "image registry",
		stmts: []string{
			`CREATE TABLE projects (
				id {{pk}},
				name VARCHAR(64) NOT NULL,
				business_id BIGINT NOT NULL,
				public BOOLEAN NOT NULL DEFAULT FALSE,
				created_at {{ts}} NOT NULL,
				updated_at {{ts}} NOT NULL
			)`,
			`CREATE UNIQUE INDEX projects_name ON projects (name)`,
			`CREATE INDEX projects_business ON projects (business_id, id)`,
			`CREATE TABLE images (
				id {{pk}},
				project_id BIGINT NOT NULL,
				name VARCHAR(255) NOT NULL,
				created_at {{ts}} NOT NULL,
				updated_at {{ts}} NOT NULL
			)`,
			`CREATE UNIQUE INDEX images_name ON images (name)`,
			`CREATE INDEX images_project ON images (project_id, id)`,
			`CREATE TABLE image_tags (
				image_id BIGINT NOT NULL,
				tag VARCHAR(128) NOT NULL,
				digest VARCHAR(160) NOT NULL,
				created_at {{ts}} NOT NULL,
				updated_at {{ts}} NOT NULL,
				PRIMARY KEY (image_id, tag)
			)`,
			`CREATE TABLE registry_users (
				user_id BIGINT PRIMARY KEY,
				name VARCHAR(64) NOT NULL,
				password_sealed TEXT NOT NULL,
				created_at {{ts}} NOT NULL,
				updated_at {{ts}} NOT NULL
			)`,
			`CREATE UNIQUE INDEX registry_users_name ON registry_users (name)`,
		},
	},
	{
		// Every business has a Pod Security Standard level, restricted
		// unless the system administrator grants baseline or privileged;
		// its namespace carries the Pod Security Admission labels of that
		// level. The namespaces of businesses approved so far get the
		// labels at new revisions (above every revision handed out), so
		// that every agent applies them on its next resync.
		version: 10,
		name:    "pod security level of businesses",
		stmts: []string{
			`ALTER TABLE businesses ADD COLUMN pod_security VARCHAR(16) NOT NULL DEFAULT 'restricted'`,
			// Hold the counter's row lock first, as every writer of desired
			// state does, so that a replica still running the previous
			// version cannot hand out a revision in between.
			`UPDATE revision_counter SET value = value WHERE id = 1`,
			`UPDATE desired_items SET
				spec = '{"labels":{"ote-stack.io/business-id":"' || SUBSTR(name, 3) || '",' ||
					'"pod-security.kubernetes.io/audit":"restricted","pod-security.kubernetes.io/audit-version":"latest",' ||
					'"pod-security.kubernetes.io/enforce":"restricted","pod-security.kubernetes.io/enforce-version":"latest",' ||
					'"pod-security.kubernetes.io/warn":"restricted","pod-security.kubernetes.io/warn-version":"latest"}}',
				revision = revision + (SELECT value FROM revision_counter WHERE id = 1)
				WHERE cluster_id = 0 AND kind = 'namespace' AND deleted = FALSE`,
			`UPDATE revision_counter SET value = (SELECT MAX(revision) FROM desired_items)
				WHERE id = 1 AND (SELECT MAX(revision) FROM desired_items) > value`,
		},
	},
	{
		// The audit trail of administrative writes, read newest first,
		// per business or all of it.
		version: 11,
		name:    "audit trail",
		stmts: []string{
			`CREATE TABLE audit_log (
				id {{pk}},
				at {{ts}} NOT NULL,
				user_id BIGINT NOT NULL,
				user_name VARCHAR(64) NOT NULL,
				role INTEGER NOT NULL,
				business_id BIGINT NOT NULL,
				action VARCHAR(64) NOT NULL,
				target VARCHAR(512) NOT NULL,
				detail TEXT NOT NULL,
				status INTEGER NOT NULL,
				result VARCHAR(512) NOT NULL,
				address VARCHAR(64) NOT NULL
			)`,
			`CREATE INDEX audit_log_business ON audit_log (business_id, id)`,
			`CREATE INDEX audit_log_user ON audit_log (user_name, id)`,
			`CREATE INDEX audit_log_at ON audit_log (at)`,
		},
	},
	{
		// When each desired item's revision was written: the age of the
		// oldest one an agent has not acknowledged (a metric). Rows of
		// older hubs have none.
		version: 12,
		name:    "desired item write time",
		stmts: []string{
			`ALTER TABLE desired_items ADD COLUMN written_at {{ts}}`,
		},
	},
	{
		// GET /v1/deploy answers an exact total, which at 100,000
		// deployments of a business cost a count of them per request.
		// Triggers keep, per business, the counts that every combination
		// of the list's running and editable filters adds up from (one
		// row per business: a transaction changing a deployment locks one
		// count row, so they cannot deadlock on counts). running is the
		// statuses of deploy.Running (deploying, success, partial
		// success). The app name index serves appName=...&appNameMode=
		// strict or prefix.
		version: 13,
		name:    "deployment counts per business",
		// Replicas of the previous version may write deployments during
		// a rolling upgrade: none may between the counts' snapshot and
		// the triggers.
		postgresFirst: []string{`LOCK TABLE deploys IN SHARE ROW EXCLUSIVE MODE`},
		stmts: []string{
			`CREATE TABLE deploy_counts (
				business_id BIGINT PRIMARY KEY,
				n BIGINT NOT NULL,
				running BIGINT NOT NULL,
				editable BIGINT NOT NULL,
				running_editable BIGINT NOT NULL
			)`,
			`INSERT INTO deploy_counts (business_id, n, running, editable, running_editable)
				SELECT business_id, COUNT(*),
					SUM(CASE WHEN status IN (4, 5, 6) THEN 1 ELSE 0 END),
					SUM(CASE WHEN editable THEN 1 ELSE 0 END),
					SUM(CASE WHEN status IN (4, 5, 6) AND editable THEN 1 ELSE 0 END)
				FROM deploys GROUP BY business_id`,
			`CREATE INDEX deploys_business_app ON deploys (business_id, app_name, id)`,
		},
		sqlite: []string{
			`CREATE TRIGGER deploys_count_insert AFTER INSERT ON deploys BEGIN
				INSERT INTO deploy_counts (business_id, n, running, editable, running_editable)
					VALUES (NEW.business_id, 1, NEW.status IN (4, 5, 6), NEW.editable <> 0, NEW.status IN (4, 5, 6) AND NEW.editable <> 0)
					ON CONFLICT (business_id) DO UPDATE SET n = n + 1, running = running + excluded.running,
						editable = editable + excluded.editable, running_editable = running_editable + excluded.running_editable;
			END`,
			`CREATE TRIGGER deploys_count_delete AFTER DELETE ON deploys BEGIN
				UPDATE deploy_counts SET n = n - 1, running = running - (OLD.status IN (4, 5, 6)),
					editable = editable - (OLD.editable <> 0), running_editable = running_editable - (OLD.status IN (4, 5, 6) AND OLD.editable <> 0)
					WHERE business_id = OLD.business_id;
			END`,
			`CREATE TRIGGER deploys_count_update AFTER UPDATE OF status, editable ON deploys
				WHEN (OLD.status IN (4, 5, 6)) <> (NEW.status IN (4, 5, 6)) OR (OLD.editable <> 0) <> (NEW.editable <> 0) BEGIN
				UPDATE deploy_counts SET
					running = running - (OLD.status IN (4, 5, 6)) + (NEW.status IN (4, 5, 6)),
					editable = editable - (OLD.editable <> 0) + (NEW.editable <> 0),
					running_editable = running_editable - (OLD.status IN (4, 5, 6) AND OLD.editable <> 0) + (NEW.status IN (4, 5, 6) AND NEW.editable <> 0)
					WHERE business_id = NEW.business_id;
			END`,
		},
		postgres: []string{
			`CREATE FUNCTION deploys_count_trigger() RETURNS trigger LANGUAGE plpgsql AS $$
			DECLARE
				o_run INT := 0; o_ed INT := 0; n_run INT := 0; n_ed INT := 0;
			BEGIN
				IF TG_OP IN ('DELETE', 'UPDATE') THEN
					o_run := CASE WHEN OLD.status IN (4, 5, 6) THEN 1 ELSE 0 END;
					o_ed := CASE WHEN OLD.editable THEN 1 ELSE 0 END;
				END IF;
				IF TG_OP IN ('INSERT', 'UPDATE') THEN
					n_run := CASE WHEN NEW.status IN (4, 5, 6) THEN 1 ELSE 0 END;
					n_ed := CASE WHEN NEW.editable THEN 1 ELSE 0 END;
				END IF;
				IF TG_OP = 'INSERT' THEN
					INSERT INTO deploy_counts (business_id, n, running, editable, running_editable)
						VALUES (NEW.business_id, 1, n_run, n_ed, n_run * n_ed)
						ON CONFLICT (business_id) DO UPDATE SET n = deploy_counts.n + 1, running = deploy_counts.running + n_run,
							editable = deploy_counts.editable + n_ed, running_editable = deploy_counts.running_editable + n_run * n_ed;
				ELSIF TG_OP = 'DELETE' THEN
					UPDATE deploy_counts SET n = n - 1, running = running - o_run, editable = editable - o_ed,
						running_editable = running_editable - o_run * o_ed WHERE business_id = OLD.business_id;
				ELSIF o_run <> n_run OR o_ed <> n_ed THEN
					UPDATE deploy_counts SET running = running - o_run + n_run, editable = editable - o_ed + n_ed,
						running_editable = running_editable - o_run * o_ed + n_run * n_ed WHERE business_id = NEW.business_id;
				END IF;
				RETURN NULL;
			END
			$$`,
			`CREATE TRIGGER deploys_count AFTER INSERT OR DELETE OR UPDATE OF status, editable ON deploys
				FOR EACH ROW EXECUTE FUNCTION deploys_count_trigger()`,
		},
	},
	{
		// Rollouts: a change may carry a strategy (deploy_requests.strategy,
		// JSON); once approved it goes out wave by wave (rollouts, one row
		// per rollout with its planned waves as JSON). The audit request
		// that lets a wave start names it (wave: its number from 1, and the
		// clusters' names).
		version: 14,
		name:    "rollouts",
		stmts: []string{
			`ALTER TABLE deploy_requests ADD COLUMN strategy TEXT NOT NULL DEFAULT ''`,
			`ALTER TABLE deploy_requests ADD COLUMN rollout_id BIGINT NOT NULL DEFAULT 0`,
			`ALTER TABLE deploy_requests ADD COLUMN wave INTEGER NOT NULL DEFAULT 0`,
			`ALTER TABLE deploy_requests ADD COLUMN clusters TEXT NOT NULL DEFAULT ''`,
			`CREATE TABLE rollouts (
				id {{pk}},
				deploy_id BIGINT NOT NULL,
				request_id BIGINT NOT NULL,
				type INTEGER NOT NULL,
				version VARCHAR(16) NOT NULL,
				prev_version VARCHAR(16) NOT NULL,
				spec TEXT NOT NULL,
				prev_spec TEXT NOT NULL,
				strategy TEXT NOT NULL,
				waves TEXT NOT NULL,
				wave INTEGER NOT NULL,
				state VARCHAR(16) NOT NULL,
				reason TEXT NOT NULL,
				wave_started {{ts}},
				healthy_since {{ts}},
				gate_since {{ts}},
				created_at {{ts}} NOT NULL,
				updated_at {{ts}} NOT NULL
			)`,
			`CREATE INDEX rollouts_deploy ON rollouts (deploy_id, id)`,
			`CREATE INDEX rollouts_state ON rollouts (state)`,
		},
	},
	{
		// Drift: out-of-band changes agents found in the workloads they
		// applied, one row per change (the same change reported twice is
		// kept once), and each deployment's drift policy.
		version: 15,
		name:    "drift",
		stmts: []string{
			`ALTER TABLE deploys ADD COLUMN drift_policy VARCHAR(16) NOT NULL DEFAULT 'correct'`,
			`ALTER TABLE deploy_requests ADD COLUMN drift_policy VARCHAR(16) NOT NULL DEFAULT ''`,
			`CREATE TABLE drift_events (
				id {{pk}},
				cluster_id BIGINT NOT NULL,
				name VARCHAR(255) NOT NULL,
				object VARCHAR(255) NOT NULL,
				field VARCHAR(255) NOT NULL,
				desired TEXT NOT NULL,
				actual TEXT NOT NULL,
				manager VARCHAR(255) NOT NULL,
				at {{ts}} NOT NULL,
				corrected BOOLEAN NOT NULL,
				seen_at {{ts}} NOT NULL
			)`,
			`CREATE UNIQUE INDEX drift_events_change ON drift_events (cluster_id, name, object, field, manager, at)`,
			`CREATE INDEX drift_events_name ON drift_events (name, id)`,
		},
	},
}

func (s *Store) expand(stmt string) string {
	pk, ts, blob := "INTEGER PRIMARY KEY AUTOINCREMENT", "DATETIME", "BLOB"
	if s.dialect == Postgres {
		pk, ts, blob = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "TIMESTAMPTZ", "BYTEA"
	}
	return strings.NewReplacer("{{pk}}", pk, "{{ts}}", ts, "{{blob}}", blob).Replace(stmt)
}

// migrationLockKey is the PostgreSQL advisory lock that serialises migrations of
// hub replicas starting together against one database.
const migrationLockKey = 0x07e5_7ac4

// migrate applies, in order, every migration whose version is not recorded in
// schema_migrations. Each runs in its own transaction together with its record.
func (s *Store) migrate(ctx context.Context, upTo int) error {
	db := s.db.WithContext(ctx)
	if err := db.Exec(s.expand(`CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY,
		name VARCHAR(255) NOT NULL,
		applied_at {{ts}} NOT NULL
	)`)).Error; err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	for _, m := range migrations {
		if m.version > upTo {
			break
		}
		err := db.Transaction(func(tx *gorm.DB) error {
			if s.dialect == Postgres {
				if err := tx.Exec("SELECT pg_advisory_xact_lock(?)", migrationLockKey).Error; err != nil {
					return err
				}
			}
			var n int64
			if err := tx.Table("schema_migrations").Where("version = ?", m.version).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			var stmts []string
			if s.dialect == Postgres {
				stmts = append(stmts, m.postgresFirst...)
			}
			stmts = append(stmts, m.stmts...)
			if s.dialect == Postgres {
				stmts = append(stmts, m.postgres...)
			} else {
				stmts = append(stmts, m.sqlite...)
			}
			for _, stmt := range stmts {
				if err := tx.Exec(s.expand(stmt)).Error; err != nil {
					return fmt.Errorf("%s: %w", firstLine(stmt), err)
				}
			}
			return tx.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, time.Now().UTC()).Error
		})
		if err != nil {
			return fmt.Errorf("migration %d (%s): %w", m.version, m.name, err)
		}
	}
	return nil
}

// LatestSchemaVersion is the version of the newest migration.
func LatestSchemaVersion() int { return migrations[len(migrations)-1].version }

// SchemaVersion returns the highest applied migration version.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v *int
	err := s.db.WithContext(ctx).Raw("SELECT MAX(version) FROM schema_migrations").Scan(&v).Error
	if err != nil || v == nil {
		return 0, err
	}
	return *v, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
