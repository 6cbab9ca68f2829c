package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/codex32/codex32/internal/testutil"
	"github.com/codex32/codex32/models"
)

var keygenRE = regexp.MustCompile(`(?m)^CODEX32_AUDIT_SIGNING_KEY=([0-9a-f]{64})\n# Public \(key id (ed25519:[0-9a-f]{16})\).*\n([0-9a-f]{64})$`)

// keygen runs `codex32 audit keygen` and returns the private and public key.
func keygen(t *testing.T) (private, public string) {
	t.Helper()
	out, stderr, code := codex32(t, nil, "audit", "keygen")
	require.Zero(t, code, stderr)
	m := keygenRE.FindStringSubmatch(out)
	require.NotNil(t, m, out)
	return m[1], m[3]
}

func TestAuditVerifyWithCheckpointFileDefeatsARehashedChain(t *testing.T) {
	t.Parallel()
	env, spec := importEnv(t)
	private, public := keygen(t)
	env["CODEX32_AUDIT_SIGNING_KEY"] = private
	_, stderr, code := codex32(t, env, "import", examplesDir(t))
	require.Zero(t, code, stderr)

	dir := t.TempDir()
	cpFile, pubFile := filepath.Join(dir, "checkpoint.json"), filepath.Join(dir, "audit.pub")
	require.NoError(t, os.WriteFile(pubFile, []byte(public+"\n"), 0o600))
	out, stderr, code := codex32(t, env, "audit", "checkpoint", "--out", cpFile)
	require.Zero(t, code, stderr)
	require.Regexp(t, `^audit checkpoint signed: row \d+, hash [0-9a-f]{64}, key ed25519:`, out)
	require.Contains(t, stderr, `msg="audit checkpoint"`, "the checkpoint is logged")
	require.Contains(t, stderr, "signature=")
	data, err := os.ReadFile(cpFile)
	require.NoError(t, err)
	var file map[string]any
	require.NoError(t, json.Unmarshal(data, &file))
	require.Equal(t, models.CheckpointFormat, file["format"])

	out, stderr, code = codex32(t, env, "audit", "verify", "--checkpoint", cpFile, "--public-key", public)
	require.Zero(t, code, stderr)
	require.Regexp(t, `^audit chain OK: \d+ rows verified .*; 1 stored signed checkpoints match; row \d+ has the hash signed by ed25519:`, out)
	_, stderr, code = codex32(t, env, "audit", "verify", "--checkpoint", cpFile, "--public-key", pubFile)
	require.Zero(t, code, "the public key may be a file: %s", stderr)

	// A superuser rewrites row 2, re-hashes everything after it and wipes the
	// saved head and the stored checkpoints.
	db := testutil.OpenDB(t, spec)
	testutil.ForgeAuditChain(t, db, 2)
	_ = db.Close()
	out, stderr, code = codex32(t, env, "audit", "verify")
	require.Zero(t, code, "on its own the forged chain verifies (%s): only the checkpoint can tell", stderr)
	require.Contains(t, out, "audit chain OK")

	_, stderr, code = codex32(t, env, "audit", "verify", "--checkpoint", cpFile, "--public-key", public)
	require.Equal(t, 1, code)
	require.Regexp(t, `^codex32: audit chain BROKEN after \d+ intact rows: audit: verify: row \d+ does not have the hash signed in the checkpoint of .* the chain was rewritten and re-hashed[^\n]*\n$`, stderr)
	// And it stays broken for a plain verify too.
	_, stderr, code = codex32(t, env, "audit", "verify")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "stays broken until an admin accepts")
}

func TestAuditVerifyRefusesABadCheckpointFile(t *testing.T) {
	t.Parallel()
	env, _ := importEnv(t)
	private, public := keygen(t)
	_, otherPublic := keygen(t)
	env["CODEX32_AUDIT_SIGNING_KEY"] = private
	dir := t.TempDir()
	cpFile := filepath.Join(dir, "checkpoint.json")
	_, stderr, code := codex32(t, env, "audit", "checkpoint", "--out", cpFile)
	require.Zero(t, code, stderr)
	c, err := os.ReadFile(cpFile)
	require.NoError(t, err)
	var cp map[string]any
	require.NoError(t, json.Unmarshal(c, &cp))

	write := func(name string, mutate func(map[string]any)) string {
		m := map[string]any{}
		for k, v := range cp {
			m[k] = v
		}
		mutate(m)
		b, err := json.Marshal(m)
		require.NoError(t, err)
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, b, 0o600))
		return p
	}
	sig := cp["signature"].(string)
	flipped := "0"
	if sig[0] == '0' {
		flipped = "1"
	}
	badSig := write("bad-sig.json", func(m map[string]any) { m["signature"] = flipped + sig[1:] })
	moved := write("moved.json", func(m map[string]any) { m["hash"] = strings.Repeat("0", 64) })
	cases := []struct{ file, key, want string }{
		{badSig, public, "signature does not verify with key ed25519:"},
		{moved, public, "the checkpoint was forged or altered"},
		{cpFile, otherPublic, "not the given key"},
	}
	for _, tc := range cases {
		_, stderr, code := codex32(t, env, "audit", "verify", "--checkpoint", tc.file, "--public-key", tc.key)
		require.Equal(t, 1, code, tc.file)
		require.Contains(t, stderr, tc.want, tc.file)
		require.NotContains(t, stderr, "BROKEN", "a bad file is not a broken chain")
	}
	_, stderr, code = codex32(t, env, "audit", "verify", "--checkpoint", cpFile)
	require.Equal(t, 2, code, "--checkpoint needs --public-key: %s", stderr)
	out, stderr, code := codex32(t, env, "audit", "verify")
	require.Zero(t, code, "the bad files changed nothing: %s", stderr)
	require.Contains(t, out, "1 stored signed checkpoints match")
}

func TestAuditAcceptCommand(t *testing.T) {
	t.Parallel()
	env, spec := importEnv(t)
	_, stderr, code := codex32(t, env, "import", examplesDir(t))
	require.Zero(t, code, stderr)
	_, stderr, code = codex32(t, env, "audit", "verify")
	require.Zero(t, code, stderr)
	db := testutil.OpenDB(t, spec)
	ctx := context.Background()
	last, err := models.LastAuditVerification(ctx, db.Bun)
	require.NoError(t, err)
	testutil.DropAuditGuards(t, db)
	_, err = db.Bun.ExecContext(ctx, "DELETE FROM audit_logs WHERE seq >= ?", last.HeadSeq)
	require.NoError(t, err)

	for range 2 {
		_, stderr, code = codex32(t, env, "audit", "verify")
		require.Equal(t, 1, code)
		require.Contains(t, stderr, "audit chain BROKEN")
		require.Contains(t, stderr, "rows were removed")
	}
	_, stderr, code = codex32(t, env, "audit", "checkpoint")
	require.Equal(t, 1, code, "nothing is signed while broken")
	require.Contains(t, stderr, "no checkpoint is signed until an admin accepts")

	_, stderr, code = codex32(t, env, "audit", "accept")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "--reason")
	env["USER"] = "alice"
	out, stderr, code := codex32(t, env, "audit", "accept", "--reason", "restored the 02:00 backup after the disk failure")
	require.Zero(t, code, stderr)
	require.Regexp(t, `^audit chain re-anchored at row \d+`, out)
	head, err := models.AuditHead(ctx, db.Bun)
	require.NoError(t, err)
	require.Equal(t, "audit.accept", head.Action)
	require.True(t, strings.HasPrefix(head.ActorLabel, "cli (alice@"), head.ActorLabel)
	require.Contains(t, string(head.NewValues), "restored the 02:00 backup after the disk failure")

	out, stderr, code = codex32(t, env, "audit", "verify")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "audit chain OK")
	_, stderr, code = codex32(t, env, "audit", "accept", "--reason", "again")
	require.Equal(t, 1, code)
	require.Contains(t, stderr, "nothing to accept")
}

// In development the signing key is a file in the data directory, made on
// first use and kept; verify checks the checkpoints it signed.
func TestAuditDevelopmentSigningKeyFile(t *testing.T) {
	t.Parallel()
	env, _ := importEnv(t)
	env["CODEX32_DATA_DIR"] = t.TempDir()
	out, stderr, code := codex32(t, env, "audit", "verify")
	require.Zero(t, code, stderr)
	require.NotContains(t, out, "checkpoints", "no key yet, nothing to check")
	_, err := os.Stat(filepath.Join(env["CODEX32_DATA_DIR"], "audit-signing.key"))
	require.ErrorIs(t, err, os.ErrNotExist, "verify does not make a key")

	_, stderr, code = codex32(t, env, "audit", "checkpoint")
	require.Zero(t, code, stderr)
	require.Contains(t, stderr, "CODEX32_AUDIT_SIGNING_KEY", "a warning says to set the real setting")
	st, err := os.Stat(filepath.Join(env["CODEX32_DATA_DIR"], "audit-signing.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	pub, stderr, code := codex32(t, env, "audit", "public-key")
	require.Zero(t, code, stderr)
	require.Regexp(t, `^[0-9a-f]{64}\n$`, pub)

	out, stderr, code = codex32(t, env, "audit", "verify")
	require.Zero(t, code, stderr)
	require.Contains(t, out, "1 stored signed checkpoints match")

	env["CODEX32_ENV"], env["CODEX32_SESSION_SECRET"], env["CODEX32_SECRET_KEY"] = "production", strings.Repeat("s", 32), strings.Repeat("ab", 32)
	_, stderr, code = codex32(t, env, "audit", "checkpoint")
	require.Equal(t, 2, code, "production never falls back to the file")
	require.Contains(t, stderr, "invalid CODEX32_AUDIT_SIGNING_KEY: is not set")
}
