package models_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

func newSigner(t *testing.T) *models.AuditSigner {
	t.Helper()
	s, _, err := models.NewAuditSigningKey()
	require.NoError(t, err)
	return s
}

func verify(t *testing.T, db *models.DB, opts models.AuditVerifyOptions) (models.AuditVerification, error) {
	t.Helper()
	return models.VerifyAndRecordAuditChain(ctx, db.Bun, models.SystemActor("test"), opts)
}

// removeNewest deletes the newest audit rows from seq on, as someone with
// the database can once the guard is gone.
func removeNewest(t *testing.T, db *models.DB, seq int64) {
	t.Helper()
	_, err := db.Bun.ExecContext(ctx, "DELETE FROM audit_logs WHERE seq >= ?", seq)
	require.NoError(t, err)
}

// A failed verification is sticky: after it, truncating the chain further
// (and its own audit.verify row on top) must not pass and become the new
// good head.
func TestAuditVerifyStaysBrokenAfterAFailure(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	for range 5 {
		testutil.CreateUser(t, db, models.RoleViewer)
	}
	res, err := verify(t, db, models.AuditVerifyOptions{})
	require.NoError(t, err)
	head := res.HeadSeq
	testutil.DropAuditGuards(t, db)
	removeNewest(t, db, head)

	res, err = verify(t, db, models.AuditVerifyOptions{})
	require.ErrorIs(t, err, models.ErrAuditBroken)
	require.False(t, res.OK)
	require.Contains(t, res.Problem, fmt.Sprintf("row %d", head))
	require.Contains(t, res.Problem, "rows were removed")

	// Remove more; the chain that is left links perfectly.
	removeNewest(t, db, head-2)
	n, err := models.VerifyAuditChain(ctx, db.Bun)
	require.NoError(t, err, "the truncated chain is consistent in itself")
	require.Positive(t, n)
	for range 2 {
		res, err = verify(t, db, models.AuditVerifyOptions{})
		require.ErrorIs(t, err, models.ErrAuditBroken, "still broken: nothing re-anchors silently")
		require.False(t, res.OK)
		require.Contains(t, res.Problem, "stays broken until an admin accepts")
		require.Contains(t, res.Problem, "rows were removed", "the first problem is still named")
		require.Equal(t, head, res.HeadSeq, "the last good anchor is kept")
		require.NotNil(t, res.BrokenSince)
	}
	last, err := models.LastAuditVerification(ctx, db.Bun)
	require.NoError(t, err)
	require.False(t, last.OK)
}

func TestAuditAcceptNeedsAReasonAndIsAudited(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	for range 3 {
		testutil.CreateUser(t, db, models.RoleViewer)
	}
	_, err := models.AcceptAuditChain(ctx, db.Bun, models.SystemActor("ops"), "restored a backup")
	require.ErrorIs(t, err, models.ErrNothingToAccept, "never verified: nothing to accept")
	res, err := verify(t, db, models.AuditVerifyOptions{})
	require.NoError(t, err)
	_, err = models.AcceptAuditChain(ctx, db.Bun, models.SystemActor("ops"), "restored a backup")
	require.ErrorIs(t, err, models.ErrNothingToAccept, "the chain is fine: nothing to accept")

	testutil.DropAuditGuards(t, db)
	removeNewest(t, db, res.HeadSeq)
	_, err = verify(t, db, models.AuditVerifyOptions{})
	require.ErrorIs(t, err, models.ErrAuditBroken)

	for _, reason := range []string{"", "   "} {
		_, err = models.AcceptAuditChain(ctx, db.Bun, models.SystemActor("ops"), reason)
		var ve *models.ValidationError
		require.ErrorAs(t, err, &ve, "a reason is required")
		require.Contains(t, ve.Fields, "reason")
	}
	_, err = verify(t, db, models.AuditVerifyOptions{})
	require.ErrorIs(t, err, models.ErrAuditBroken, "a refused accept changes nothing")

	acc, err := models.AcceptAuditChain(ctx, db.Bun, models.SystemActor("ops (alice@host)"), "  restored last night's backup after the disk failure  ")
	require.NoError(t, err)
	require.True(t, acc.OK)
	require.NotNil(t, acc.AcceptedAt)
	head, err := models.AuditHead(ctx, db.Bun)
	require.NoError(t, err)
	require.Equal(t, "audit.accept", head.Action)
	require.Equal(t, "ops (alice@host)", head.ActorLabel)
	require.JSONEq(t, fmt.Sprintf(`{"reason":"restored last night's backup after the disk failure","anchor_seq":%d,"anchor_hash":%q,"checkpoints_from":1}`,
		acc.HeadSeq, acc.HeadHash), string(head.NewValues))
	require.Contains(t, string(head.OldValues), "rows were removed", "what was accepted is recorded")

	res, err = verify(t, db, models.AuditVerifyOptions{})
	require.NoError(t, err, "re-anchored")
	require.True(t, res.OK)

	// The new anchor is guarded like the old one.
	removeNewest(t, db, res.HeadSeq)
	_, err = verify(t, db, models.AuditVerifyOptions{})
	require.ErrorIs(t, err, models.ErrAuditBroken)
}

func TestAuditAcceptRefusesAlteredRows(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	for range 3 {
		testutil.CreateUser(t, db, models.RoleViewer)
	}
	testutil.DropAuditGuards(t, db)
	_, err := db.Bun.ExecContext(ctx, "UPDATE audit_logs SET actor_label = 'x' WHERE seq = 2")
	require.NoError(t, err)
	_, err = verify(t, db, models.AuditVerifyOptions{})
	require.ErrorIs(t, err, models.ErrAuditBroken)
	_, err = models.AcceptAuditChain(ctx, db.Bun, models.SystemActor("ops"), "looks fine to me")
	require.ErrorContains(t, err, "row 2 was altered")
	require.ErrorContains(t, err, "cannot accept")
}

// The attack of issue 11: whoever holds the database rewrites a row,
// re-hashes everything after it and wipes the saved head and checkpoints.
// The chain then verifies on its own; a checkpoint kept outside the
// database, checked with the public key, does not.
func TestAuditCheckpointDefeatsARehashedChain(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	for range 4 {
		testutil.CreateUser(t, db, models.RoleViewer)
	}
	s := newSigner(t)
	cp, created, err := models.CreateAuditCheckpoint(ctx, db.Bun, s, models.SystemActor("test"))
	require.NoError(t, err)
	require.True(t, created)
	file, err := models.MarshalCheckpointFile(cp)
	require.NoError(t, err)
	outside, err := models.ParseCheckpointFile(file) // what is kept outside
	require.NoError(t, err)
	testutil.CreateUser(t, db, models.RoleViewer) // the log goes on after the checkpoint

	opts := models.AuditVerifyOptions{Key: s.Public(), Checkpoint: outside, CheckpointKey: s.Public()}
	res, err := verify(t, db, opts)
	require.NoError(t, err, "the untouched chain matches its checkpoint")
	require.Equal(t, cp.Seq, res.CheckpointSeq)
	require.Equal(t, 1, res.Checkpoints, "the stored checkpoint was checked too")

	testutil.ForgeAuditChain(t, db, 2)
	res, err = verify(t, db, models.AuditVerifyOptions{Key: s.Public()})
	require.NoError(t, err, "without the outside checkpoint the forgery passes: this is what it defeats")
	require.True(t, res.OK)

	res, err = verify(t, db, opts)
	require.ErrorIs(t, err, models.ErrAuditBroken)
	require.False(t, res.OK)
	require.Contains(t, res.Problem, fmt.Sprintf("row %d does not have the hash signed in the checkpoint", cp.Seq))
	require.Contains(t, res.Problem, "rewritten and re-hashed")
}

func TestAuditStoredCheckpointsAreChecked(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	for range 3 {
		testutil.CreateUser(t, db, models.RoleViewer)
	}
	s := newSigner(t)
	cp, _, err := models.CreateAuditCheckpoint(ctx, db.Bun, s, models.SystemActor("test"))
	require.NoError(t, err)
	// A rewrite that leaves the stored checkpoints (and the saved head) in place.
	testutil.DropAuditGuards(t, db)
	var rows []*models.AuditLog
	require.NoError(t, db.Bun.NewSelect().Model(&rows).Order("a.seq ASC").Scan(ctx))
	prev := ""
	for _, r := range rows {
		if r.Seq == 1 {
			r.ActorLabel = "forged"
		}
		r.PrevHash = prev
		r.Hash, err = r.ComputeHash()
		require.NoError(t, err)
		prev = r.Hash
		_, err = db.Bun.NewUpdate().Model(r).Column("actor_label", "prev_hash", "hash").WherePK().Exec(ctx)
		require.NoError(t, err)
	}
	res, err := verify(t, db, models.AuditVerifyOptions{Key: s.Public()})
	require.ErrorIs(t, err, models.ErrAuditBroken)
	require.Contains(t, res.Problem, fmt.Sprintf("row %d does not have the hash signed in the checkpoint", cp.Seq))

	// And the signer refuses to bless it.
	_, _, err = models.CreateAuditCheckpoint(ctx, db.Bun, s, models.SystemActor("test"))
	require.ErrorIs(t, err, models.ErrAuditBroken)
}

func TestAuditCheckpointWithBadSignatureOrWrongKeyFails(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	testutil.CreateUser(t, db, models.RoleViewer)
	s, other := newSigner(t), newSigner(t)
	cp, _, err := models.CreateAuditCheckpoint(ctx, db.Bun, s, models.SystemActor("test"))
	require.NoError(t, err)
	require.NoError(t, cp.VerifySignature(s.Public()))

	altered := *cp
	altered.SignedAt = altered.SignedAt.Add(1e3) // a microsecond later
	forged := *cp
	forged.Signature = forged.Signature[:10] + "00" + forged.Signature[12:]
	if forged.Signature == cp.Signature {
		forged.Signature = forged.Signature[:10] + "11" + forged.Signature[12:]
	}
	renamed := *cp
	renamed.KeyID = other.KeyID() // claims the other key
	cases := []struct {
		name string
		cp   *models.AuditCheckpoint
		key  []byte
		want string
	}{
		{"altered time", &altered, s.Public(), "forged or altered"},
		{"bad signature", &forged, s.Public(), "forged or altered"},
		{"wrong key", cp, other.Public(), "not the given key"},
		{"renamed to the other key", &renamed, other.Public(), "forged or altered"},
	}
	before, err := models.LastAuditVerification(ctx, db.Bun)
	require.NoError(t, err)
	require.Nil(t, before)
	for _, tc := range cases {
		_, err := verify(t, db, models.AuditVerifyOptions{Checkpoint: tc.cp, CheckpointKey: tc.key})
		require.ErrorIs(t, err, models.ErrCheckpointSignature, tc.name)
		require.ErrorContains(t, err, tc.want, tc.name)
		require.NotErrorIs(t, err, models.ErrAuditBroken, "%s: a bad file says nothing about the chain", tc.name)
	}
	after, err := models.LastAuditVerification(ctx, db.Bun)
	require.NoError(t, err)
	require.Nil(t, after, "nothing was recorded")
}

func TestAuditSignerSignsOnlyWhenTheHeadMoved(t *testing.T) {
	t.Parallel()
	db := testutil.NewDB(t)
	_, _, err := models.CreateAuditCheckpoint(ctx, db.Bun, newSigner(t), models.SystemActor("test"))
	require.ErrorContains(t, err, "empty")
	testutil.CreateUser(t, db, models.RoleViewer)
	s := newSigner(t)
	first, created, err := models.CreateAuditCheckpoint(ctx, db.Bun, s, models.SystemActor("test"))
	require.NoError(t, err)
	require.True(t, created)
	again, created, err := models.CreateAuditCheckpoint(ctx, db.Bun, s, models.SystemActor("test"))
	require.NoError(t, err)
	require.False(t, created)
	require.Equal(t, first.ID, again.ID)
	testutil.CreateUser(t, db, models.RoleViewer)
	next, created, err := models.CreateAuditCheckpoint(ctx, db.Bun, s, models.SystemActor("test"))
	require.NoError(t, err)
	require.True(t, created)
	require.Greater(t, next.Seq, first.Seq)

	// Stored checkpoints are write-once.
	_, err = db.Bun.ExecContext(ctx, "UPDATE audit_checkpoints SET hash = 'x'")
	require.ErrorContains(t, err, "immutable")
	_, err = db.Bun.ExecContext(ctx, "DELETE FROM audit_checkpoints")
	require.ErrorContains(t, err, "immutable")
}

func TestAuditSigningKeyFormat(t *testing.T) {
	t.Parallel()
	s, private, err := models.NewAuditSigningKey()
	require.NoError(t, err)
	require.Len(t, private, 64)
	again, err := models.ParseAuditSigningKey(private)
	require.NoError(t, err)
	require.Equal(t, s.Public(), again.Public())
	require.Regexp(t, `^ed25519:[0-9a-f]{16}$`, s.KeyID())
	for _, bad := range []string{"", "abc", private[:62], private + "00", "zz" + private[2:]} {
		_, err := models.ParseAuditSigningKey(bad)
		require.Error(t, err, bad)
	}
}
