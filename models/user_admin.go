package models

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/uptrace/bun"
)

// UserFilter narrows ListUsers and QueryUsers.
type UserFilter struct {
	Search string // matches email, username or name, case-insensitively
	After  string // QueryUsers: cursor from the previous page's Next
	Limit  int    // default 100, at most 500
}

// UserPage is one page of QueryUsers.
type UserPage struct {
	Users []*User
	Next  string // cursor of the next page ("" on the last)
}

// ListUsers returns one page of users, newest first: QueryUsers for
// callers that do not page on.
func ListUsers(ctx context.Context, db bun.IDB, f UserFilter) ([]*User, error) {
	p, err := QueryUsers(ctx, db, f)
	if err != nil {
		return nil, err
	}
	return p.Users, nil
}

// QueryUsers returns one page of users, newest first. Pages are
// keyset-paginated on (created_at, id), the users_created_at_idx order, so
// a later page costs what the first does and a user added meanwhile
// neither repeats nor hides a row of the pages after it.
func QueryUsers(ctx context.Context, db bun.IDB, f UserFilter) (*UserPage, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 500)
	after, err := decodeCursor(f.After)
	if err != nil {
		return nil, err
	}
	if after != nil && after.Time == nil {
		return nil, &ValidationError{Fields: map[string]string{"after": "is not a valid page cursor"}}
	}
	var users []*User
	q := db.NewSelect().Model(&users)
	if s := strings.TrimSpace(f.Search); s != "" {
		like := "%" + escapeLike(strings.ToLower(s)) + "%"
		q = q.WhereGroup(" AND ", func(q *bun.SelectQuery) *bun.SelectQuery {
			return q.Where("lower(u.email) LIKE ? ESCAPE '\\'", like).
				WhereOr("lower(u.username) LIKE ? ESCAPE '\\'", like).
				WhereOr("lower(u.name) LIKE ? ESCAPE '\\'", like)
		})
	}
	if after != nil {
		q = q.Where("(u.created_at, u.id) < (?, ?)", after.Time.UTC(), after.ID)
	}
	if err := q.Order("u.created_at DESC", "u.id DESC").Limit(int64(limit + 1)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("users: list: %w", err)
	}
	page := &UserPage{Users: users}
	if len(users) > limit {
		page.Users = users[:limit]
		last := page.Users[limit-1]
		t := last.CreatedAt
		page.Next = encodeCursor(cursor{ID: last.ID, Time: &t})
	}
	return page, nil
}

func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// updateUser applies change to the user under a transaction, writes the
// audit row, and optionally ends all the user's sessions.
func updateUser(ctx context.Context, db bun.IDB, actor Actor, id uuid.UUID, action string, endSessions bool,
	change func(tx bun.Tx, u *User) ([]string, error)) (*User, error) {
	var out *User
	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		u := new(User)
		if err := forUpdate(tx, tx.NewSelect().Model(u).Where("u.id = ?", id)).Scan(ctx); err != nil {
			return fmt.Errorf("users: load %s: %w", id, mapErr(err))
		}
		before := u.auditView()
		cols, err := change(tx, u)
		if err != nil {
			return err
		}
		u.UpdatedAt = now()
		if _, err := tx.NewUpdate().Model(u).Column(append(cols, "updated_at")...).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("users: %s %s: %w", action, id, mapErr(err))
		}
		if endSessions {
			if _, err := tx.NewDelete().Model((*Session)(nil)).Where("user_id = ?", id).Exec(ctx); err != nil {
				return fmt.Errorf("users: end sessions of %s: %w", id, err)
			}
		}
		out = u
		return WriteAudit(ctx, tx, actor, AuditEntry{Action: action, ResourceType: "user", ResourceID: id.String(), Old: before, New: u.auditView()})
	})
	return out, err
}

// SetUserRole changes a user's role. The change applies to their next
// request (the role is read on every request).
func SetUserRole(ctx context.Context, db bun.IDB, actor Actor, id uuid.UUID, role Role) (*User, error) {
	if !role.Valid() {
		return nil, &ValidationError{Fields: map[string]string{"role": fmt.Sprintf("must be one of %v", Roles)}}
	}
	return updateUser(ctx, db, actor, id, "user.role.change", false, func(tx bun.Tx, u *User) ([]string, error) {
		if u.Role == RoleAdmin && role != RoleAdmin {
			if err := ensureAnotherAdmin(ctx, tx, u.ID); err != nil {
				return nil, err
			}
		}
		u.Role = role
		return []string{"role"}, nil
	})
}

// SetUserActive disables (ending every session at once) or enables a user.
func SetUserActive(ctx context.Context, db bun.IDB, actor Actor, id uuid.UUID, active bool) (*User, error) {
	action := "user.enable"
	if !active {
		action = "user.disable"
	}
	return updateUser(ctx, db, actor, id, action, !active, func(tx bun.Tx, u *User) ([]string, error) {
		if !active && u.Role == RoleAdmin {
			if err := ensureAnotherAdmin(ctx, tx, u.ID); err != nil {
				return nil, err
			}
		}
		u.IsActive = active
		return []string{"is_active"}, nil
	})
}

// SetUserPassword checks the policy, stores the new hash and ends every
// session of the user (the caller starts a fresh one if it is the user).
func SetUserPassword(ctx context.Context, db bun.IDB, actor Actor, id uuid.UUID, password string) (*User, error) {
	return updateUser(ctx, db, actor, id, "user.password.change", true, func(tx bun.Tx, u *User) ([]string, error) {
		if msg := CheckPasswordPolicy(password, u.Email); msg != "" {
			return nil, &ValidationError{Fields: map[string]string{"password": msg}}
		}
		h, err := HashPassword(password)
		if err != nil {
			return nil, err
		}
		u.PasswordHash = &h
		return []string{"password_hash"}, nil
	})
}

// ErrLastAdmin refuses a change that would leave no active admin.
var ErrLastAdmin = &ValidationError{Fields: map[string]string{"role": "this is the last active admin; make someone else admin first"}}

func ensureAnotherAdmin(ctx context.Context, db bun.IDB, except uuid.UUID) error {
	// Lock every active admin row (Postgres) so two admins demoting each
	// other at once cannot both see the other as the remaining admin.
	var ids []uuid.UUID
	q := db.NewSelect().Model((*User)(nil)).Column("id").Where("role = ?", RoleAdmin).Where("is_active").Order("id")
	if err := forUpdate(db, q).Scan(ctx, &ids); err != nil {
		return fmt.Errorf("users: count admins: %w", err)
	}
	for _, id := range ids {
		if id != except {
			return nil
		}
	}
	return ErrLastAdmin
}
