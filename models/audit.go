package models

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// Actor is who makes a change: a signed-in user, an API key, or the system
// (both nil, e.g. the CLI). Label is a human-readable snapshot (email) kept
// in the audit row so it still reads well after the user is deleted.
type Actor struct {
	UserID    *uuid.UUID
	APIKeyID  *uuid.UUID
	Label     string
	IP        string
	UserAgent string
}

// SystemActor is the actor for changes made by the binary itself.
func SystemActor(label string) Actor { return Actor{Label: label} }

// AuditLog is one tamper-evident audit row. Rows are chained: Hash covers the
// row's content and PrevHash, the previous row's Hash. The table has no
// foreign keys (deleting a user or bot must not touch audit rows) and the
// database refuses UPDATE and DELETE on it.
type AuditLog struct {
	bun.BaseModel `bun:"table:audit_logs,alias:a"`

	ID            uuid.UUID       `bun:"id,pk,type:uuid"`
	Seq           int64           `bun:"seq,notnull"`
	ActorUserID   *uuid.UUID      `bun:"actor_user_id,type:uuid"`
	ActorAPIKeyID *uuid.UUID      `bun:"actor_api_key_id,type:uuid"`
	ActorLabel    string          `bun:"actor_label,notnull"`
	Action        string          `bun:"action,notnull"`
	ResourceType  string          `bun:"resource_type,notnull"`
	ResourceID    string          `bun:"resource_id,notnull"`
	BotID         *uuid.UUID      `bun:"bot_id,type:uuid"`
	OldValues     json.RawMessage `bun:"old_values,type:jsonb"`
	NewValues     json.RawMessage `bun:"new_values,type:jsonb"`
	IP            string          `bun:"ip,notnull"`
	UserAgent     string          `bun:"user_agent,notnull"`
	CreatedAt     time.Time       `bun:"created_at,notnull"`
	PrevHash      string          `bun:"prev_hash,notnull"`
	Hash          string          `bun:"hash,notnull"`
}

// AuditEntry is what a mutation says about itself.
type AuditEntry struct {
	Action       string
	ResourceType string
	ResourceID   string
	BotID        *uuid.UUID
	Old, New     any
}

type chainHead struct {
	Seq  sql.NullInt64  `bun:"head_seq"`
	Hash sql.NullString `bun:"head_hash"`
}

// auditHead returns the newest audit row's seq and hash (NULLs when the log
// is empty). On Postgres codex32_audit_head() first takes the advisory lock
// that serialises audit writers; SQLite has a single writer already.
func auditHead(ctx context.Context, tx bun.Tx) (chainHead, error) {
	var h chainHead
	q := "SELECT head_seq, head_hash FROM codex32_audit_head()"
	if !isPG(tx) {
		q = "SELECT max(seq) AS head_seq, (SELECT hash FROM audit_logs ORDER BY seq DESC LIMIT 1) AS head_hash FROM audit_logs"
	}
	if err := tx.NewRaw(q).Scan(ctx, &h); err != nil {
		return h, fmt.Errorf("audit: read chain head: %w", err)
	}
	return h, nil
}

// WriteAudit appends an audit row inside tx; it must be the transaction of
// the change it describes, so both commit or neither does.
func WriteAudit(ctx context.Context, tx bun.Tx, actor Actor, e AuditEntry) error {
	head, err := auditHead(ctx, tx)
	if err != nil {
		return err
	}
	prevHash, seq := head.Hash.String, head.Seq.Int64+1
	row := &AuditLog{
		ID: NewID(), Seq: seq, ActorUserID: actor.UserID, ActorAPIKeyID: actor.APIKeyID, ActorLabel: actor.Label,
		Action: e.Action, ResourceType: e.ResourceType, ResourceID: e.ResourceID, BotID: e.BotID,
		IP: actor.IP, UserAgent: truncate(actor.UserAgent, 500), CreatedAt: now(), PrevHash: prevHash,
	}
	if row.OldValues, err = auditJSON(e.Old); err != nil {
		return err
	}
	if row.NewValues, err = auditJSON(e.New); err != nil {
		return err
	}
	if row.Hash, err = row.ComputeHash(); err != nil {
		return err
	}
	if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
		return fmt.Errorf("audit: insert %s: %w", e.Action, err)
	}
	return nil
}

func auditJSON(v any) (json.RawMessage, error) {
	if v == nil {
		return nil, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("audit: encode values: %w", err)
	}
	return canonicalJSON(b)
}

// ComputeHash hashes the row's content: every field, length-prefixed so no
// two rows can encode alike, and the JSON values byte for byte as stored
// (they are written canonical, and the columns keep text exactly: SQLite
// TEXT, Postgres json), so verification needs no re-encoding. It is unkeyed
// and public on purpose: anyone can check a row, and so anyone holding the
// database can recompute a chain; signed checkpoints (AuditCheckpoint) are
// what such a recomputation cannot fake.
func (a *AuditLog) ComputeHash() (string, error) {
	h := sha256.New()
	var buf []byte
	field := func(s string) {
		buf = strconv.AppendInt(buf[:0], int64(len(s)), 10)
		buf = append(buf, ':')
		buf = append(buf, s...)
		buf = append(buf, ';')
		_, _ = h.Write(buf)
	}
	jsonField := func(raw json.RawMessage) {
		if len(raw) == 0 {
			field("null")
			return
		}
		field(string(raw))
	}
	field(strconv.FormatInt(a.Seq, 10))
	field(a.ID.String())
	field(uuidOrEmpty(a.ActorUserID))
	field(uuidOrEmpty(a.ActorAPIKeyID))
	field(a.ActorLabel)
	field(a.Action)
	field(a.ResourceType)
	field(a.ResourceID)
	field(uuidOrEmpty(a.BotID))
	jsonField(a.OldValues)
	jsonField(a.NewValues)
	field(a.IP)
	field(a.UserAgent)
	field(strconv.FormatInt(a.CreatedAt.UnixMicro(), 10))
	field(a.PrevHash)
	return hex.EncodeToString(h.Sum(nil)), nil
}

func uuidOrEmpty(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// truncate cuts s to at most n bytes on a character boundary (a cut
// through a multi-byte character would be invalid UTF-8, which Postgres
// refuses).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// VerifyAuditChain re-computes every row's hash in order and reports the
// first row that does not match (or whose link to its predecessor is broken).
// It returns the number of rows checked.
func VerifyAuditChain(ctx context.Context, db bun.IDB) (int, error) {
	w, err := walkAuditChain(ctx, db, chainWalk{})
	return w.checked, err
}

// chainWalk says where a walk of the chain starts and ends and which rows
// must have which hash.
type chainWalk struct {
	after int64  // start after this row (0: at the first)
	prev  string // the hash of row after
	upTo  int64  // stop after this row (0: at the head)
	// expect: rows that must exist with exactly this hash (a signed
	// checkpoint, the head a verification saw).
	expect map[int64]expectedHash
}

// expectedHash is a hash a row must have, and what vouches for it.
type expectedHash struct {
	hash string
	what string // e.g. "signed in the checkpoint of 2026-01-02 15:04 UTC"
}

// walked is where a walk ended.
type walked struct {
	checked int
	seq     int64 // the last row checked (the start's after when none)
	hash    string
}

// walkAuditChain checks the rows after w.after in order. Hashes of a batch
// are computed on all cores; the links are checked in order.
func walkAuditChain(ctx context.Context, db bun.IDB, w chainWalk) (walked, error) {
	const batch = 5000
	workers := max(1, runtime.GOMAXPROCS(0))
	out := walked{seq: w.after, hash: w.prev}
	for {
		var rows []*AuditLog
		q := db.NewSelect().Model(&rows).Where("a.seq > ?", out.seq).Order("a.seq ASC").Limit(batch)
		if w.upTo > 0 {
			q = q.Where("a.seq <= ?", w.upTo)
		}
		if err := q.Scan(ctx); err != nil {
			return out, fmt.Errorf("audit: verify: %w", err)
		}
		hashes := make([]string, len(rows))
		var wg sync.WaitGroup
		for k := range workers {
			wg.Go(func() {
				for i := k; i < len(rows); i += workers {
					hashes[i], _ = rows[i].ComputeHash()
				}
			})
		}
		wg.Wait()
		for i, r := range rows {
			if r.Seq != out.seq+1 {
				return out, fmt.Errorf("audit: verify: row %d missing (next is %d)", out.seq+1, r.Seq)
			}
			if r.PrevHash != out.hash {
				return out, fmt.Errorf("audit: verify: row %d does not link to row %d", r.Seq, r.Seq-1)
			}
			if hashes[i] != r.Hash {
				return out, fmt.Errorf("audit: verify: row %d was altered", r.Seq)
			}
			if e, ok := w.expect[r.Seq]; ok && e.hash != r.Hash {
				return out, fmt.Errorf("audit: verify: row %d does not have the hash %s: the chain was rewritten and re-hashed (or rows were removed and others written in their place)", r.Seq, e.what)
			}
			out.seq, out.hash = r.Seq, r.Hash
			out.checked++
		}
		if len(rows) < batch {
			break
		}
	}
	// Rows vouched for beyond the end: the newest rows were removed (or an
	// old backup restored).
	missing := int64(0)
	for seq := range w.expect {
		if seq > out.seq && (w.upTo == 0 || seq <= w.upTo) && (missing == 0 || seq < missing) {
			missing = seq
		}
	}
	if missing > 0 {
		return out, fmt.Errorf("audit: verify: row %d (%s) is missing: the chain ends at row %d, rows were removed",
			missing, w.expect[missing].what, out.seq)
	}
	return out, nil
}
