package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/codex32/codex32/models"
)

// checkpointLoop signs an audit checkpoint at start and then every
// interval, whenever the audit log has grown, until ctx ends. Each one is
// stored and logged (logCheckpoint). A broken chain is logged as an error
// every time: it stays broken until an admin accepts it.
func checkpointLoop(ctx context.Context, db *models.DB, signer *models.AuditSigner, interval time.Duration, log *slog.Logger) {
	if signer == nil || interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		c, created, err := models.CreateAuditCheckpoint(ctx, db.Bun, signer, models.SystemActor("system"))
		switch {
		case err == nil && created:
			// Logged even when shutdown began meanwhile: a stored
			// checkpoint always has its copy in the log.
			logCheckpoint(log, c)
		case ctx.Err() != nil:
			return
		case errors.Is(err, models.ErrAuditBroken):
			log.Error("audit chain BROKEN: no checkpoint signed", "err", err)
		case err != nil:
			var se *models.StateError
			if !errors.As(err, &se) { // an empty log is not worth a warning
				log.Warn("audit checkpoint", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
