package models

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// SetSecretScope replaces who may use the named secret and where it may be
// sent; audited as secret.scope (old and new scope, never the value).
func SetSecretScope(ctx context.Context, db bun.IDB, actor Actor, name string, scope SecretScope) (*Secret, error) {
	if err := scope.validate(); err != nil {
		return nil, err
	}
	var out *Secret
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		s := new(Secret)
		if err := forUpdate(tx, tx.NewSelect().Model(s).Where("sc.name = ?", name)).Scan(ctx); err != nil {
			return fmt.Errorf("secrets: load %s: %w", name, mapErr(err))
		}
		old := secretAudit(s)
		t := now()
		s.Grants, s.Hosts, s.ScopedAt, s.UpdatedBy, s.UpdatedAt = scope.Grants, scope.Hosts, &t, actor.UserID, t
		if _, err := tx.NewUpdate().Model(s).Column("grants", "hosts", "scoped_at", "updated_by", "updated_at").WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("secrets: scope %s: %w", name, err)
		}
		out = s
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: "secret.scope", ResourceType: "secret", ResourceID: name, Old: old, New: secretAudit(s)})
	})
	return out, err
}

// SecretByName reads one secret (its ciphertext included; never render it).
func SecretByName(ctx context.Context, db bun.IDB, name string) (*Secret, error) {
	s := new(Secret)
	if err := db.NewSelect().Model(s).Where("sc.name = ?", name).Scan(ctx); err != nil {
		return nil, fmt.Errorf("secrets: load %s: %w", name, mapErr(err))
	}
	return s, nil
}

func secretsByName(ctx context.Context, db bun.IDB, names []string) (map[string]*Secret, error) {
	out := make(map[string]*Secret, len(names))
	if len(names) == 0 {
		return out, nil
	}
	var rows []*Secret
	if err := db.NewSelect().Model(&rows).Where("sc.name IN (?)", bun.List(names)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("secrets: load: %w", err)
	}
	for _, s := range rows {
		out[s.Name] = s
	}
	return out, nil
}

// CheckSecretUse reports, in the order given, each named secret that bot u
// may not use: not granted, not set, or with no host to go to.
func CheckSecretUse(ctx context.Context, db bun.IDB, names []string, u SecretUser) ([]SecretRefusal, error) {
	found, err := secretsByName(ctx, db, names)
	if err != nil {
		return nil, err
	}
	var out []SecretRefusal
	for _, n := range names {
		s, ok := found[n]
		if !ok {
			out = append(out, SecretRefusal{Name: n, Reason: secretNotGranted})
			continue
		}
		if r := s.refuse(u); r != nil {
			out = append(out, *r)
		}
	}
	return out, nil
}

// RunSecrets are the secrets one run may use: their values, and for each
// the hosts a request carrying it may go to.
type RunSecrets struct {
	Values map[string]string
	Hosts  map[string][]string
}

// RevealSecretsFor decrypts the named secrets for a run of bot u. A secret
// the bot may not use (or that is not set) is a *SecretRefusal, and nothing
// is decrypted.
func RevealSecretsFor(ctx context.Context, db bun.IDB, box *SecretBox, names []string, u SecretUser) (RunSecrets, error) {
	out := RunSecrets{Values: make(map[string]string, len(names)), Hosts: make(map[string][]string, len(names))}
	found, err := secretsByName(ctx, db, names)
	if err != nil {
		return out, err
	}
	for _, n := range names {
		s, ok := found[n]
		if !ok {
			return RunSecrets{}, &SecretRefusal{Name: n, Reason: secretNotGranted}
		}
		if r := s.refuse(u); r != nil {
			return RunSecrets{}, r
		}
	}
	for _, n := range names {
		s := found[n]
		pt, err := box.Open(s.Ciphertext, s.Nonce, s.KeyID, []byte(s.Name))
		if err != nil {
			return RunSecrets{}, fmt.Errorf("secrets: %s: %w", s.Name, err)
		}
		out.Values[n], out.Hosts[n] = string(pt), slices.Clone(s.Hosts)
	}
	return out, nil
}

// AuditSecretRefusals records refused uses of secrets (never a value):
// one secret.refused row each, saying which bot, where (save or run) and why.
func AuditSecretRefusals(ctx context.Context, db bun.IDB, actor Actor, botID *uuid.UUID, where string, refusals []SecretRefusal) error {
	if len(refusals) == 0 {
		return nil
	}
	return db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, r := range refusals {
			details := map[string]any{"secret": r.Name, "where": where, "reason": r.Reason}
			if botID != nil {
				details["bot_id"] = botID.String()
			}
			if err := WriteAudit(ctx, tx, actor, AuditEntry{Action: "secret.refused", ResourceType: "secret", ResourceID: r.Name, BotID: botID, New: details}); err != nil {
				return err
			}
		}
		return nil
	})
}

// GrantedTags are the tags some secret is granted to. Adding one of them to
// a bot gives the bot secrets, so only admins may (see the bot handlers).
func GrantedTags(ctx context.Context, db bun.IDB) (map[string]bool, error) {
	list, err := ListSecrets(ctx, db)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, s := range list {
		for _, t := range s.Grants.Tags {
			out[strings.ToLower(t)] = true
		}
	}
	return out, nil
}

// CountSecretsNeedingScope counts the secrets from before scopes that no
// admin has scoped yet (see Secret.NeedsScope).
func CountSecretsNeedingScope(ctx context.Context, db bun.IDB) (int, error) {
	n, err := db.NewSelect().Model((*Secret)(nil)).Where("sc.scoped_at IS NULL").Count(ctx)
	if err != nil {
		return 0, fmt.Errorf("secrets: count unscoped: %w", err)
	}
	return int(n), nil
}
