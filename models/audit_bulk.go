package models

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// ChainAuditRows links rows, in order, onto an audit chain whose head has
// hash prevHash (empty for an empty log): row i gets Seq firstSeq+i, the
// previous row's hash as PrevHash, and its own Hash — computed exactly as
// WriteAudit computes it, so VerifyAuditChain accepts rows inserted in bulk.
// OldValues and NewValues are canonicalised the way WriteAudit stores them,
// UserAgent is truncated like WriteAudit's, CreatedAt is cut to the
// microsecond the databases keep (now when zero), and a nil ID gets a new one.
//
// It only computes: the caller inserts the rows, and must hold the chain head
// while it does (on Postgres, in the transaction that called
// codex32_audit_head(), which takes the audit writers' advisory lock), or the
// chain forks. It returns the hash of the last row (prevHash when rows is
// empty), the prevHash of the rows that come next.
func ChainAuditRows(prevHash string, firstSeq int64, rows []*AuditLog) (lastHash string, err error) {
	if firstSeq < 1 {
		return "", fmt.Errorf("audit: chain: first seq %d is not positive", firstSeq)
	}
	for i, r := range rows {
		if r.ID == uuid.Nil {
			r.ID = NewID()
		}
		if r.CreatedAt.IsZero() {
			r.CreatedAt = now()
		} else {
			r.CreatedAt = r.CreatedAt.UTC().Truncate(time.Microsecond)
		}
		r.UserAgent = truncate(r.UserAgent, 500)
		if r.OldValues, err = chainJSON(r.OldValues); err != nil {
			return "", fmt.Errorf("audit: chain row %d: old values: %w", i, err)
		}
		if r.NewValues, err = chainJSON(r.NewValues); err != nil {
			return "", fmt.Errorf("audit: chain row %d: new values: %w", i, err)
		}
		r.Seq = firstSeq + int64(i)
		r.PrevHash = prevHash
		if r.Hash, err = r.ComputeHash(); err != nil {
			return "", err
		}
		prevHash = r.Hash
	}
	return prevHash, nil
}

// chainJSON stores raw as WriteAudit stores a value: absent stays SQL NULL,
// anything else goes through auditJSON (encode — a json.RawMessage encodes
// as itself, validated and compacted — then canonicalise).
func chainJSON(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	return auditJSON(raw)
}
